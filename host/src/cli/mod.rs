//! The `civic` command line: one file per command, each with `fn execute(self)`.

mod admin_client;
mod cargo;
mod catalog;
mod check;
mod data_dir;
mod inspect;
mod new;
mod options;
mod pull;
mod push;
mod run;
mod status;
mod swap;
mod up;

use clap::{Parser, Subcommand};
use std::borrow::Cow;

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
    /// Swap a running component for a new version (through the admin API).
    Swap(swap::SwapCommand),
    /// Put a component's previous version back (through the admin API).
    Rollback(swap::RollbackCommand),
    /// Show every city's components: version, hash, requests, errors.
    Status(status::StatusCommand),
    /// Create a plugin crate, with a manifest that serves it.
    New(new::NewCommand),
    /// Print what a component imports and exports, as WIT.
    Inspect(inspect::InspectCommand),
    /// Publish a component to an OCI registry.
    Push(push::PushCommand),
    /// Fetch a component from an OCI registry.
    Pull(pull::PullCommand),
    /// List the services a registry offers.
    Catalog(catalog::CatalogCommand),
}

impl Command {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<()> {
        match self {
            Self::Run(command) => command.execute(),
            Self::Up(command) => command.execute(),
            Self::Check(command) => command.execute(),
            Self::Swap(command) => command.execute(),
            Self::Rollback(command) => command.execute(),
            Self::Status(command) => command.execute(),
            Self::New(command) => command.execute(),
            Self::Inspect(command) => command.execute(),
            Self::Push(command) => command.execute(),
            Self::Pull(command) => command.execute(),
            Self::Catalog(command) => command.execute(),
        }
    }
}

/// `text` as it may reach a terminal: control characters other than line breaks escaped
/// (`\u{1b}`), so text from a registry or a manifest cannot move the cursor, retitle the window
/// or hide what follows.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .flat_map(|c| if c.is_control() && c != '\n' { c.escape_default().collect() } else { vec![c] })
            .collect(),
    )
}
