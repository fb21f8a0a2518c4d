//! A throwaway OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution
//! registry) with its storage in a temporary directory, on a free port of 127.0.0.1, optionally
//! behind basic authentication (htpasswd); stopped when dropped. One serves a whole test binary
//! ([`Registry::shared`]).
//!
//! [`push_raw`] publishes hand-made artifacts (a container layer, two layers) that no proper tool
//! would, to check how a host refuses them.

use sha2::{Digest as _, Sha256};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    auth: Option<(String, String)>,
    child: Option<Child>,
}

impl Registry {
    /// The anonymous registry of this test binary, started by the first test that asks; it stops
    /// when the last test holding it ends.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<Registry>> = Mutex::new(Weak::new());
        crate::shared(&SHARED, || Self::start(None))
    }

    /// A registry of its own, anonymous or behind basic authentication with `auth`.
    pub fn start(auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let auth = auth.map(|(user, password)| (user.to_owned(), password.to_owned()));
        let mut registry = Self { dir, port, auth, child: None };
        registry.start_again();
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:PORT/PATH`.
    pub fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host())
    }

    /// Stops it, as an outage would; what it stored stays for [`Registry::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again), on the same port with the same storage; returns once it listens.
    pub fn start_again(&mut self) {
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n",
            self.dir.path().join("storage").display(),
            self.port
        );
        if let Some((user, password)) = &self.auth {
            let hash = bcrypt::hash(password, 4).expect("a bcrypt hash");
            let htpasswd = self.dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config += &format!("auth:\n  htpasswd:\n    realm: civic-tests\n    path: {}\n", htpasswd.display());
        }
        let path = self.dir.path().join("config.yml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("no `docker-registry`: `apt-get install docker-registry` (tests/setup does)");
        let heard = crate::line_seen(child.stderr.take().expect("stderr is piped"), "listening on");
        if heard.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("docker-registry did not start listening");
        }
        self.child = Some(child);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:HEX`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Publishes `layers` (media type and bytes each) under `repository:tag` of the anonymous
/// registry at `host`, with a config of `config_type`; the manifest's digest.
pub async fn push_raw(host: &str, repository: &str, tag: &str, config_type: &str, layers: &[(&str, &[u8])]) -> String {
    let client = crate::client();
    let upload = async |bytes: &[u8]| {
        let digest = sha256(bytes);
        let started = client.post(format!("http://{host}/v2/{repository}/blobs/uploads/")).send().await.unwrap();
        assert_eq!(started.status(), 202, "{}", started.text().await.unwrap());
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") { location } else { format!("http://{host}{location}") };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put =
            client.put(format!("{location}{separator}digest={digest}")).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        serde_json::json!({ "digest": digest, "size": bytes.len() })
    };
    let config = b"{}";
    let mut config_descriptor = upload(config).await;
    config_descriptor["mediaType"] = config_type.into();
    let mut descriptors = Vec::new();
    for (media_type, bytes) in layers {
        let mut descriptor = upload(bytes).await;
        descriptor["mediaType"] = (*media_type).into();
        descriptors.push(descriptor);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_descriptor,
        "layers": descriptors,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let put = client
        .put(format!("http://{host}/v2/{repository}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
    sha256(&manifest)
}
