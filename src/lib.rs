//! Portcullis: a JSON REST authentication service.
//!
//! [`startup::build_app`] builds the one actix `App` that the binary, the tests
//! and the benchmark all run; [`cli::run`] is what `main` calls.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod dto;
pub mod error;
pub mod http;
pub mod limits;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod telemetry;
