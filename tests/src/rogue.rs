//! A registry that misbehaves on purpose, as a hostile one would: a catalogue that repeats its
//! page forever and lists names that are not references, annotations full of terminal escapes,
//! a layer that declares 2 GiB, a layer longer than it declares, a manifest that never ends, and
//! one sent a byte every few seconds. It speaks just enough HTTP/1.1 (one request per
//! connection) on 127.0.0.1, counts what it is asked and what it sends, and stops when dropped.
//!
//! Its repositories, by what they do:
//! - `civic/kita:1.0`: a proper component artifact whose annotations and interface names carry
//!   ESC, CR and OSC sequences; its tag list also holds tags that are not tags.
//! - `huge/layer:1`: a layer declared 2 GiB, whose blob is endless zeros.
//! - `lying/layer:1`: a layer declared 1 KiB whose blob is endless zeros.
//! - `huge/manifest:1`: a manifest that never ends.
//! - `slow/manifest:1`: a manifest sent one byte every [`DRIP`].
//! - `empty/rNN`: repositories without tags, to fill the catalogue's page.

use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// How often the slow manifest sends its next byte.
pub const DRIP: Duration = Duration::from_secs(10);

/// What the annotations and interface names of `civic/kita:1.0` hold: a title change (OSC), a
/// screen clear and a carriage return over the line.
pub const ESCAPES: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\rforged";

/// Counters of what the rogue registry saw and did.
#[derive(Default)]
pub struct Counts {
    /// Requests, of any path.
    pub requests: AtomicU64,
    /// Requests for the catalogue.
    pub catalogue_pages: AtomicU64,
    /// Body bytes written for the endless blobs and manifest.
    pub endless_bytes: AtomicU64,
}

pub struct Rogue {
    addr: SocketAddr,
    pub counts: Arc<Counts>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Rogue {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the rogue registry");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("its address");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(listener).expect("a listener on the runtime")
        };
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, counted.clone()));
            }
        });
        Self { addr, counts, runtime: Some(runtime) }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `oci://127.0.0.1:PORT/PATH`.
    pub fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host())
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The config of `civic/kita:1.0`.
fn config() -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "component": { "exports": [format!("civic:kita/places{ESCAPES}@1.0.0")], "imports": [] },
    });
    serde_json::to_vec(&config).expect("JSON")
}

/// A manifest with one `application/wasm` layer of `size` bytes and `digest`.
fn manifest(digest: &str, size: u64, annotations: serde_json::Value) -> Vec<u8> {
    let config = config();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": [{ "mediaType": "application/wasm", "digest": digest, "size": size }],
        "annotations": annotations,
    });
    serde_json::to_vec(&manifest).expect("JSON")
}

fn kita_manifest() -> Vec<u8> {
    let annotations = serde_json::json!({
        "org.opencontainers.image.title": format!("Kita{ESCAPES}"),
        "org.opencontainers.image.version": "1.0.0",
        "org.opencontainers.image.description": format!("places{ESCAPES}"),
    });
    manifest(&sha256(b"not fetched by a catalogue"), 26, annotations)
}

async fn answer(mut stream: TcpStream, counts: Arc<Counts>) {
    let mut head = Vec::new();
    let mut buffer = [0; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let path = target.split_once('?').map_or(target.as_str(), |(path, _)| path);
    let json = "application/json";
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    match path {
        "/v2/" => whole(&mut stream, "200 OK", json, b"{}", None).await,
        "/v2/_catalog" => {
            counts.catalogue_pages.fetch_add(1, Ordering::Relaxed);
            // The same full page whatever `last` says: a registry that pages forever.
            let mut names: Vec<String> = ["a!b", "UPPER/kita", "civic/kita", "huge/layer", "lying/layer"]
                .into_iter()
                .map(str::to_owned)
                .collect();
            names.extend((names.len()..100).map(|n| format!("empty/r{n:02}")));
            let page = serde_json::to_vec(&serde_json::json!({ "repositories": names })).expect("JSON");
            whole(&mut stream, "200 OK", json, &page, None).await
        }
        "/v2/civic/kita/tags/list" => {
            let tags = serde_json::json!({ "name": "civic/kita", "tags": ["1.0", "bad tag", "x\u{1b}[2J"] });
            whole(&mut stream, "200 OK", json, &serde_json::to_vec(&tags).expect("JSON"), None).await
        }
        "/v2/civic/kita/manifests/1.0" => {
            let manifest = kita_manifest();
            let digest = sha256(&manifest);
            whole(&mut stream, "200 OK", manifest_type, &manifest, Some(&digest)).await
        }
        "/v2/huge/layer/manifests/1" => {
            let manifest = manifest(&sha256(b"huge"), 2 << 30, serde_json::json!({}));
            whole(&mut stream, "200 OK", manifest_type, &manifest, None).await
        }
        "/v2/lying/layer/manifests/1" => {
            let manifest = manifest(&sha256(&[0; 1024]), 1024, serde_json::json!({}));
            whole(&mut stream, "200 OK", manifest_type, &manifest, None).await
        }
        "/v2/huge/manifest/manifests/1" => endless(&mut stream, &counts, None).await,
        "/v2/slow/manifest/manifests/1" => endless(&mut stream, &counts, Some(DRIP)).await,
        path if path.ends_with("/tags/list") => {
            whole(&mut stream, "200 OK", json, br#"{"name":"empty","tags":[]}"#, None).await
        }
        path if path.starts_with("/v2/civic/kita/blobs/") => {
            whole(&mut stream, "200 OK", "application/octet-stream", &config(), None).await
        }
        path if path.contains("/blobs/") => endless(&mut stream, &counts, None).await,
        _ => {
            let unknown = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}"#;
            whole(&mut stream, "404 Not Found", json, unknown, None).await
        }
    }
}

async fn whole(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8], digest: Option<&str>) {
    let digest = digest.map(|d| format!("docker-content-digest: {d}\r\n")).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{digest}connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
}

/// A body without a length that never ends: zeros as fast as the client reads, or one byte
/// every `drip`.
async fn endless(stream: &mut TcpStream, counts: &Counts, drip: Option<Duration>) {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\nconnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b' '; if drip.is_some() { 1 } else { 64 << 10 }];
    // The pace of a slow registry, not a wait in a test: it ends when the host hangs up.
    let mut pace = drip.map(|drip| tokio::time::interval_at(tokio::time::Instant::now() + drip, drip));
    loop {
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        if stream.write_all(&chunk).await.is_err() {
            return;
        }
        counts.endless_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}
