//! The HTTP edge: extractors, routes (each translates a request into one
//! use-case call and its result into an answer), request and response bodies,
//! the problem+json mapping and the OpenAPI document. Nothing below this layer
//! knows about HTTP.

pub mod client;
pub mod connections;
pub mod cookies;
pub mod cors;
pub mod dto;
pub mod extractors;
pub mod fallback;
pub mod metrics;
pub mod openapi;
pub mod origins;
pub mod parsing;
pub mod problem;
pub mod request_log;
pub mod responses;
pub mod routes;
pub mod schemas;
pub mod ui;
