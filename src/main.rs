//! The `warden` binary: the command line (`cli`, private to the binary) on
//! top of the `warden` library.

// `unsafe` only in the `cli` modules marked `#[allow(unsafe_code)]`.
#![deny(unsafe_code)]

mod cli;

use tracing_subscriber::EnvFilter;

fn main() {
    let cli = cli::usage::parse_or_exit();
    cli::secrets::remember_env();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter())),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // Log lines never show a secret this process knows, in any encoding.
        .with_writer(cli::secrets::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            std::process::exit(cli::EXIT_WARDEN_ERROR);
        }
    };
    let code = runtime.block_on(cli::main_with(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}
