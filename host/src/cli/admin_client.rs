//! What `civic swap`, `civic rollback` and `civic status` share: where the admin API is, the
//! token, and one request to it.

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the admin API listens and how to authenticate.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Address of the host's admin API (`civic run --admin ADDR`).
    #[arg(long, env = "CIVIC_ADMIN", default_value = "127.0.0.1:8081", value_name = "ADDR")]
    admin: SocketAddr,

    /// File holding the admin token (or set `CIVIC_ADMIN_TOKEN`).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
}

impl AdminArgs {
    /// Sends one request; the answer's body if it is a success, its status and reason if not.
    pub fn request(&self, method: Method, path: &str, body: Vec<u8>) -> anyhow::Result<String> {
        let token = read_token(self.admin_token_file.as_deref())?;
        let threads = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (status, text) = threads.block_on(async {
            let stream = tokio::net::TcpStream::connect(self.admin)
                .await
                .with_context(|| format!("cannot reach the admin API at {}", self.admin))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, self.admin.to_string())
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Full::new(Bytes::from(body)))?;
            let response = sender.send_request(request).await.context("the admin API did not answer")?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, String::from_utf8_lossy(&body).trim_end().to_owned()))
        })?;
        if !status.is_success() {
            // Refusals come as `{"kind": …, "error": …}`: say the error in words.
            let refusal: Option<serde_json::Value> = serde_json::from_str(&text).ok();
            let error = refusal.as_ref().and_then(|r| Some((r["error"].as_str()?, r["kind"].as_str()?)));
            match error {
                Some((error, kind)) => bail!("{status} ({kind}): {error}"),
                None => bail!("{status}: {text}"),
            }
        }
        Ok(text)
    }
}

/// The admin token: the file's content when a file is named, else `CIVIC_ADMIN_TOKEN`.
pub fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let token = match file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the admin token file `{}`", file.display()))?,
        None => std::env::var("CIVIC_ADMIN_TOKEN").unwrap_or_default(),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("no admin token: set CIVIC_ADMIN_TOKEN or pass --admin-token-file FILE");
    }
    Ok(token)
}
