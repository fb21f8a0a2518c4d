//! The `civic` binary: installs logging, parses the command line, runs the command, and prints
//! the whole cause chain of any error.

use civic_host::cli::{Cli, printable};
use civic_host::manifest::Diagnostics;
use clap::Parser as _;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// What is logged when `RUST_LOG` is not set: our info lines, only warnings from the engine.
const DEFAULT_FILTER: &str = "info,wasmtime=warn,cranelift=warn,wasmtime_wasi_http=warn,hyper=warn";

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();

    match Cli::parse().command.execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
                eprintln!("{diagnostics}");
            } else {
                eprintln!("error: {}", printable(&error.to_string()));
                for cause in error.chain().skip(1) {
                    eprintln!("  caused by: {}", printable(&cause.to_string()));
                }
            }
            ExitCode::FAILURE
        }
    }
}
