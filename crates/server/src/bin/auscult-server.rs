//! `auscult-server`: the server alone (the same as `auscult serve`), for deployments and for the
//! integration tests that kill and restart a real process.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "auscult-server", version, about = "The auscult gRPC server")]
struct Cli {
    #[command(flatten)]
    serve: auscult_server::cli::ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    auscult_server::cli::serve(&cli.serve).await
}
