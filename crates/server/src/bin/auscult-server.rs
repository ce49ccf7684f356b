//! `auscult-server`: the server alone (the same as `auscult serve`), for deployments and for the
//! integration tests that kill and restart a real process.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "auscult-server", version, about = "The auscult gRPC server")]
struct Cli {
    #[command(flatten)]
    serve: auscult_server::serve::ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match auscult_server::serve::serve(&cli.serve).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auscult-server: {e}");
            ExitCode::FAILURE
        }
    }
}
