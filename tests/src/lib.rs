//! The harness for Civic's integration tests: the components built by `build.rs`, the real
//! `civic` binary started on `127.0.0.1:0`, and manifests written to a temporary directory.
//!
//! Every wait is bounded: a host that does not come up, or a log line that never appears, fails
//! the test with the host's whole log instead of hanging it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// How long a host may take to compile its components and start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The `civic` binary of this checkout, built (once per test process) if it is missing or stale,
/// so `cargo test -p civic-tests` never runs an old host.
pub fn civic_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test knows its own path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", "civic-host", "--bin", "civic", "--profile", profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo to build civic");
        assert!(status.success(), "building the civic binary failed");
        profile_dir.join(format!("civic{}", std::env::consts::EXE_SUFFIX))
    })
    .clone()
}

/// `civic ARGS…` run to completion.
pub fn civic(args: &[&str], dir: &Path) -> Output {
    Command::new(civic_bin()).args(args).current_dir(dir).output().expect("cannot run civic")
}

/// A directory for a test's manifests and data, removed afterwards.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh empty directory.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("cannot create a temporary directory") }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `name` inside the workspace and returns the full path.
    pub fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("cannot create a directory");
        }
        std::fs::write(&path, text).expect("cannot write a file");
        path
    }
}

/// A TOML string literal for a path (for writing manifests).
pub fn toml_path(path: impl AsRef<Path>) -> String {
    format!("{:?}", path.as_ref().display().to_string())
}

/// A running `civic run`, killed when dropped; its log is printed if the test failed.
pub struct Civic {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Counts log lines, so waiting for one needs no polling.
    lines: tokio::sync::watch::Sender<usize>,
    /// Kept alive so the data directory outlives the host.
    _data: Option<tempfile::TempDir>,
}

impl Civic {
    /// `civic run --listen 127.0.0.1:0 --data-dir <fresh dir> MANIFESTS…`, once it listens.
    pub fn run(manifests: &[&Path]) -> Self {
        let data = tempfile::tempdir().expect("cannot create a data directory");
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
        args.extend(manifests.iter().map(|m| m.as_os_str()));
        let mut civic = Self::start("run", &args, &[]);
        civic._data = Some(data);
        civic
    }

    /// `civic COMMAND --listen 127.0.0.1:0 ARGS…` with extra environment, once it listens.
    pub fn start(command: &str, args: &[&std::ffi::OsStr], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let mut child = Command::new(civic_bin())
            .arg(command)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start civic");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        let lines = tokio::sync::watch::Sender::new(0);
        let counter = lines.clone();
        // Drain stderr continuously: a full pipe would block the host's logging.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
                drop(log);
                counter.send_modify(|n| *n += 1);
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = addr_tx.send(addr.parse::<SocketAddr>().expect("a socket address"));
                }
            }
        });
        let addr = match addr_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("civic did not start listening:\n{}", log.lock().expect("log lock"));
            }
        };
        Self { child, addr, log, lines, _data: None }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until a log line contains every one of `needles`; panics after `timeout`.
    pub async fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.lines.subscribe();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|line| needles.iter().all(|n| line.contains(n))) {
                return line.to_owned();
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                panic!("no log line with {needles:?} within {timeout:?}:\n{log}");
            }
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("cannot poll civic").is_some()
    }
}

impl Drop for Civic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- civic log ----\n{}", self.log());
        }
    }
}

/// An HTTP client for tests: no proxy, short timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("cannot build an HTTP client")
}

/// `GET url` with an optional `Host` header; returns status and body.
pub async fn get(url: &str, host: Option<&str>) -> (u16, String) {
    let mut request = client().get(url);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}
