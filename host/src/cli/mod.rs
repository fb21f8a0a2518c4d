//! The `civic` command line: one file per command, each with `fn execute(self)`.

mod check;
mod run;
mod up;

use clap::{Parser, Subcommand};

/// Civic serves WebAssembly public-service components for cities.
#[derive(Parser)]
#[command(name = "civic", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Serve the cities described by the manifests.
    Run(run::RunCommand),
    /// Build the plugin crates the manifests name, then serve the cities.
    Up(up::UpCommand),
    /// Check manifests and their components without serving anything.
    Check(check::CheckCommand),
}

impl Command {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<()> {
        match self {
            Self::Run(command) => command.execute(),
            Self::Up(command) => command.execute(),
            Self::Check(command) => command.execute(),
        }
    }
}
