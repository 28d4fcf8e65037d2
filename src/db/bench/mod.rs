//! Benchmark tooling, run only by the CLI's benchmark commands
//! (`portcullis write-ceiling`, `portcullis seed`): nothing on the serving
//! path imports it (`tests/api/project.rs` checks that only `src/cli.rs` does).

pub mod ceiling;
pub mod seeding;
