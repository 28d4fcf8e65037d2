//! Logging: tracing to standard error, text or one JSON object per line, with
//! the level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

use crate::config::{EnvFile, LogFormat};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests start many servers) keeps the first.
    let first = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
    .is_ok();
    if first {
        log_env_file();
    }
}

/// Which `.env` the settings came from, if any (never its content).
fn log_env_file() {
    match crate::config::env_file() {
        Some(EnvFile::Loaded(path)) => {
            tracing::info!(path = %path.display(), "settings not set otherwise were read from .env");
        }
        Some(EnvFile::Unreadable(path, reason)) => {
            tracing::warn!(path = %path.display(), %reason, ".env could not be read whole");
        }
        Some(EnvFile::Absent) | None => {}
    }
}
