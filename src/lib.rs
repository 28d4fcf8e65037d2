//! Portcullis: a JSON REST authentication service.
//!
//! The layers, each importing only from those before it, with no cycle
//! between modules anywhere (checked by `tests/api/project.rs`): [`domain`],
//! [`clock`] and [`metrics`] ← [`db`] ← [`config`] ← [`auth`], [`limits`] and
//! [`mail`] ← [`service`] ← [`state`] ← [`web`] ← [`startup`] and
//! [`telemetry`] ← [`cli`]. See `docs/architecture.md`.

pub mod clock;
pub mod domain;

pub mod db;

pub mod config;

pub mod auth;
pub mod limits;
pub mod mail;
pub mod metrics;

pub mod service;

pub mod state;

pub mod web;

pub mod startup;
pub mod telemetry;

pub mod cli;
