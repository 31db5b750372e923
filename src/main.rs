//! The `warden` binary.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = warden::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter())),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            std::process::exit(warden::cli::EXIT_WARDEN_ERROR);
        }
    };
    let code = runtime.block_on(warden::cli::main_with(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}
