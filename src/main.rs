use std::process::ExitCode;

use clap::Parser as _;

#[actix_web::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("warning: .env not loaded: {error}");
    }
    let cli = portcullis::cli::Cli::parse();
    match portcullis::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
