//! The WASI context of an instance (`wasi:cli`, `wasi:filesystem`, clocks, random, io; of WASI
//! 0.2, and of 0.3 with `--experimental-wasip3`): no
//! sockets, only the environment variables and the host directories its manifest entry grants
//! (read-only unless marked writable), and stdout and stderr into the host's log.

use crate::capability::logging::GuestOutput;
use crate::manifest::DirectoryGrant;
use anyhow::Context as _;
use std::collections::BTreeMap;
use wasmtime::component::Linker;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

/// The environment and the directories a component sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    env: Vec<(String, String)>,
    files: Vec<DirectoryGrant>,
}

impl Grant {
    pub fn new(env: &BTreeMap<String, String>, files: &[DirectoryGrant]) -> Self {
        Self { env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), files: files.to_vec() }
    }

    /// A fresh context for one instance. Fails only when a granted directory can no longer be
    /// opened.
    pub fn context(&self, stdout: GuestOutput, stderr: GuestOutput) -> anyhow::Result<WasiCtx> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .envs(&self.env);
        for grant in &self.files {
            let perms = if grant.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            wasi.preopened_dir(&grant.host, &grant.guest, perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open `{}` for `{}`", grant.host.display(), grant.guest))?;
        }
        Ok(wasi.build())
    }
}

/// WASI 0.2, and 0.3 beside it when `wasip3`; both reach the same context, so the same grants.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>, wasip3: bool) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    if wasip3 {
        wasmtime_wasi::p3::add_to_linker(linker)?;
    }
    Ok(())
}
