use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Where this `civic` was built from: the SDK a new plugin depends on.
const SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// The cargo configuration of this repository's components, which a new crate builds with too.
const CARGO_CONFIG: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.cargo/config.toml"));

/// Create a plugin crate, with a manifest that serves it (`civic up NAME/city.toml`).
#[derive(clap::Args)]
pub struct NewCommand {
    /// The plugin's name, in kebab-case (`dog-tax`).
    name: String,

    /// Where to create it [default: ./NAME].
    #[arg(long)]
    path: Option<PathBuf>,

    /// The civic-sdk crate to depend on [default: the one this civic was built from, when it is
    /// still there; else civic-sdk from crates.io, at this civic's version].
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// What the new crate's `civic-sdk` dependency names.
enum Sdk {
    Path(PathBuf),
    Version(&'static str),
}

impl NewCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let name = crate::manifest::ComponentName::try_from(self.name.clone()).map_err(anyhow::Error::msg)?;
        let dir = self.path.clone().unwrap_or_else(|| PathBuf::from(name.as_str()));
        if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
            bail!("`{}` already exists and is not empty", dir.display());
        }
        let sdk = match &self.sdk {
            Some(dir) => {
                let dir = std::path::absolute(dir)?;
                if !dir.join("Cargo.toml").is_file() {
                    bail!("no civic-sdk at `{}`: give the directory of its Cargo.toml", dir.display());
                }
                Sdk::Path(dir.canonicalize().unwrap_or(dir))
            }
            None if Path::new(SDK).join("Cargo.toml").is_file() => Sdk::Path(Path::new(SDK).canonicalize()?),
            None => Sdk::Version(env!("CARGO_PKG_VERSION")),
        };
        let name = name.as_str();
        let files = [
            ("Cargo.toml", cargo_toml(name, &sdk)),
            ("src/lib.rs", LIB_RS.to_owned()),
            ("city.toml", city_toml(name)),
            (".gitignore", "/target\n".to_owned()),
            (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ];
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
            std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        println!("created the plugin `{name}` in {}", dir.display());
        println!("  build it:  cd {} && cargo build --release --target wasm32-wasip2", dir.display());
        println!(
            "  serve it:  civic up {}   then   curl http://127.0.0.1:8080/{name}/hello",
            dir.join("city.toml").display()
        );
        Ok(())
    }
}

fn cargo_toml(name: &str, sdk: &Sdk) -> String {
    let sdk = match sdk {
        Sdk::Path(dir) => format!("{{ path = {:?} }}", dir.display().to_string()),
        Sdk::Version(version) => format!("\"{version}\""),
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
# What `civic push` publishes of it, and a registry's catalogue shows.
description = "A Civic service"
license = "Apache-2.0"   # an SPDX expression: choose yours
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
civic-sdk = {sdk}
serde = {{ version = "1", features = ["derive"] }}

[profile.release]
# The host compiles the component again; a small module compiles faster.
opt-level = "s"
codegen-units = 1
strip = "debuginfo"

# A crate of its own, wherever it is created.
[workspace]
"#,
    )
}

fn city_toml(name: &str) -> String {
    format!(
        r#"# Serves this plugin: `civic up city.toml`, then
#   curl http://127.0.0.1:8080/{name}/hello?name=Ana
manifest_version = 1

[city]
id = "example-city"
name = "Example City"

[components.{name}]
source = "."
config = {{ greeting = "Hello" }}

[[routes]]
path = "/{name}"
component = "{name}"
"#
    )
}

const LIB_RS: &str = r#"//! A Civic service. `GET /hello?name=Ana` greets; `POST /echo` with `{"text": "…"}` answers it
//! back. Paths are below the route the city mounts the component at.

use civic_sdk::{Params, Problem, Request, Response, Router, config};
use serde::{Deserialize, Serialize};

civic_sdk::service!(serve);

fn serve(request: Request) -> Response {
    Router::new().get("/hello", hello).post("/echo", echo).handle(&request)
}

fn hello(request: &Request, _: &Params) -> Result<Response, Problem> {
    let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());
    let name = request.query_param("name").unwrap_or_else(|| "citizen".to_owned());
    Ok(Response::text(200, format!("{greeting}, {name}!\n")))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Echo {
    text: String,
}

fn echo(request: &Request, _: &Params) -> Result<Response, Problem> {
    let echo: Echo = request.json()?;
    if echo.text.is_empty() {
        return Err(Problem::invalid("text", "must not be empty"));
    }
    Ok(Response::json(200, &echo))
}
"#;
