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

pub mod browser;
pub mod edit;
pub mod postgres;
pub mod registry;
pub mod rogue;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Drains a server's `output` on a thread of its own and reports once, on the channel, when a
/// line containing `needle` appears: how a test knows a server it started is listening.
pub fn line_seen(output: impl std::io::Read + Send + 'static, needle: &'static str) -> std::sync::mpsc::Receiver<()> {
    let (seen, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if line.contains(needle) {
                let _ = seen.send(());
            }
        }
    });
    heard
}

/// The server of a test binary kept in `slot`: the one running, or a new one from `start`. It
/// stops when the last test holding it ends (its `Drop`), so the binary leaves nothing behind.
pub fn shared<T>(slot: &'static Mutex<std::sync::Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut shared = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = shared.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *shared = Arc::downgrade(&started);
    started
}

/// How long a host may take to compile its components and start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The `civic` binary that `cargo test --workspace` builds beside the test executables.
///
/// Refuses a binary older than the host's sources, so `cargo test -p civic-tests` after a change
/// to the host fails loudly instead of testing the old host.
pub fn civic_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test knows its own path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps");
        let bin = profile_dir.join(format!("civic{}", std::env::consts::EXE_SUFFIX));
        let rebuild = "build it with `cargo test --workspace` (or `cargo build -p civic-host`)";
        let built = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| panic!("`{}` is missing: {rebuild}", bin.display()));
        let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host");
        let newest = newest_modification(&host.join("src")).max(newest_modification(&host.join("Cargo.toml")));
        assert!(built >= newest, "`{}` is older than the host's sources: {rebuild}", bin.display());
        bin
    })
    .clone()
}

/// The latest modification time of a file, or of any file under a directory.
fn newest_modification(path: &Path) -> std::time::SystemTime {
    let own = std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    children.map(|entry| newest_modification(&entry.path())).fold(own, std::cmp::max)
}

/// `civic ARGS…` run to completion; killed (exit code 124) if it is still running after
/// [`START_TIMEOUT`], so a command that should have stopped cannot hang the test.
pub fn civic(args: &[&str], dir: &Path) -> Output {
    Command::new("timeout")
        .args(["--kill-after=5s", &format!("{}s", START_TIMEOUT.as_secs())])
        .arg(civic_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run civic")
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

/// A city manifest, built up for a test and written into a [`Workspace`].
#[derive(Clone)]
pub struct City {
    id: String,
    hosts: Vec<String>,
    components: String,
    routes: String,
}

impl City {
    /// A city with no components, hosts or routes.
    pub fn new(id: &str) -> Self {
        Self { id: id.to_owned(), hosts: Vec::new(), components: String::new(), routes: String::new() }
    }

    /// `[city] hosts`.
    pub fn hosts(mut self, hosts: &[&str]) -> Self {
        self.hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// `[components.NAME]` with `source = WASM` and any further lines of TOML (`config = {…}`).
    pub fn component(mut self, name: &str, wasm: &str, more: &str) -> Self {
        self.components += &format!("\n[components.{name}]\nsource = {}\n{more}\n", toml_path(wasm));
        self
    }

    /// A `[[routes]]` entry.
    pub fn route(mut self, path: &str, component: &str) -> Self {
        self.routes += &format!("\n[[routes]]\npath = \"{path}\"\ncomponent = \"{component}\"\n");
        self
    }

    /// The manifest's text.
    pub fn toml(&self) -> String {
        let id = &self.id;
        let hosts = &self.hosts;
        format!(
            "manifest_version = 1\n\n[city]\nid = \"{id}\"\nname = \"{id}\"\nhosts = {hosts:?}\n{}{}",
            self.components, self.routes
        )
    }

    /// Writes the manifest to `ID.toml` in `workspace`.
    pub fn write(&self, workspace: &Workspace) -> PathBuf {
        workspace.write(&format!("{}.toml", self.id), self.toml())
    }
}

/// A running `civic run`, killed when dropped; its log is printed if the test failed.
pub struct Civic {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Counts log lines, so waiting for one needs no polling.
    lines: tokio::sync::watch::Sender<usize>,
    /// Set when its stderr closes: it has exited.
    closed: tokio::sync::watch::Sender<bool>,
    /// Kept alive so the data directory outlives the host.
    _data: Option<tempfile::TempDir>,
}

impl Civic {
    /// `civic run --listen 127.0.0.1:0 --data-dir <fresh dir> MANIFESTS…`, once it listens.
    pub fn run(manifests: &[&Path]) -> Self {
        let data = tempfile::tempdir().expect("cannot create a data directory");
        let mut civic = Self::run_in(data.path(), manifests, &[]);
        civic._data = Some(data);
        civic
    }

    /// [`Civic::run`] with the admin API on `127.0.0.1:0` and `token` as its token; its address
    /// comes from [`Civic::admin_addr`].
    pub fn run_with_admin(manifests: &[&Path], token: &str) -> Self {
        Self::run_with_admin_and(manifests, token, &[])
    }

    /// [`Civic::run_with_admin`] with `extra` options (`--watch`).
    pub fn run_with_admin_and(manifests: &[&Path], token: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("cannot create a data directory");
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
        args.extend(["--admin", "127.0.0.1:0"].map(std::ffi::OsStr::new));
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.extend(manifests.iter().map(|m| m.as_os_str()));
        let mut civic = Self::start("run", &args, &[("CIVIC_ADMIN_TOKEN", token.as_ref())]);
        civic._data = Some(data);
        civic
    }

    /// Where the admin API listens, from its `admin on http://ADDR` line.
    pub async fn admin_addr(&self) -> SocketAddr {
        let line = self.wait_for_log(&["admin on http://"], Duration::from_secs(10)).await;
        line.trim_start_matches("admin on http://").parse().expect("a socket address")
    }

    /// `civic run` with its state at `state` (`sqlite` or a PostgreSQL URL) and a fresh data dir.
    pub fn run_on(state: &str, manifests: &[&Path], extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("cannot create a data directory");
        let mut args = vec!["--state", state];
        args.extend(extra);
        let mut civic = Self::run_in(data.path(), manifests, &args);
        civic._data = Some(data);
        civic
    }

    /// A host of the cluster whose state is the PostgreSQL database `db`, with the admin API on
    /// `127.0.0.1:0` and `token` as its token.
    pub fn run_clustered(db: &str, manifests: &[&Path], token: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("cannot create a data directory");
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
        args.extend(["--state", db, "--admin", "127.0.0.1:0"].map(std::ffi::OsStr::new));
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.extend(manifests.iter().map(|m| m.as_os_str()));
        let mut civic = Self::start("run", &args, &[("CIVIC_ADMIN_TOKEN", token.as_ref())]);
        civic._data = Some(data);
        civic
    }

    /// Both example cities (`examples/bremerhaven.toml`, `examples/santander.toml`) as `civic run`
    /// serves them with `extra` options and environment; cargo finds their plugin crates built
    /// by tests/build.rs.
    pub fn examples(data: &Path, extra: &[&std::ffi::OsStr], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
        let manifests = [repo.join("examples/bremerhaven.toml"), repo.join("examples/santander.toml")];
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.as_os_str()];
        args.extend(extra);
        args.extend(manifests.iter().map(|m| m.as_os_str()));
        let mut env = env.to_vec();
        env.push(("CARGO_TARGET_DIR", WASM_TARGET_DIR.as_ref()));
        Self::start("run", &args, &env)
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the process, as a host that hangs would.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send {signal} to civic");
    }

    /// `civic run --listen 127.0.0.1:0 --data-dir DATA EXTRA… MANIFESTS…`, once it listens.
    pub fn run_in(data: &Path, manifests: &[&Path], extra: &[&str]) -> Self {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.extend(manifests.iter().map(|m| m.as_os_str()));
        Self::start("run", &args, &[])
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
        let closed = tokio::sync::watch::Sender::new(false);
        let (counter, eof) = (lines.clone(), closed.clone());
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
            eof.send_replace(true);
        });
        let addr = match addr_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("civic did not start listening:\n{}", log.lock().expect("log lock"));
            }
        };
        Self { child, addr, log, lines, closed, _data: None }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        self.wait_for_log_after(0, needles, timeout).await
    }

    /// How many lines it has logged so far, to wait for a line logged after them.
    pub fn log_lines(&self) -> usize {
        *self.lines.borrow()
    }

    /// [`Civic::wait_for_log`], for a line after the first `after` lines.
    pub async fn wait_for_log_after(&self, after: usize, needles: &[&str], timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.lines.subscribe();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().skip(after).find(|line| needles.iter().all(|n| line.contains(n))) {
                return line.to_owned();
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                panic!("no log line with {needles:?} within {timeout:?}:\n{log}");
            }
        }
    }

    /// The names of the host's threads.
    pub fn thread_names(&self) -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).expect("a /proc entry");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim_end().to_owned())
            .collect()
    }

    /// The most memory the host has held at once so far (VmHWM), in bytes.
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("a /proc entry");
        let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("a VmHWM line");
        let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().expect("a number of kB");
        kib * 1024
    }

    /// Kills the host with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("cannot kill civic");
        self.child.wait().expect("cannot reap civic");
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Waits up to `timeout` for the host to exit; its exit status, or `None` if it still runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        // Its stderr closes when it exits.
        let mut closed = self.closed.subscribe();
        if tokio::time::timeout(timeout, closed.wait_for(|closed| *closed)).await.is_err() {
            return None;
        }
        Some(self.child.wait().expect("cannot wait for civic"))
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
    client_builder().build().expect("cannot build an HTTP client")
}

/// [`client`] that answers a redirect instead of following it.
pub fn client_not_following() -> reqwest::Client {
    client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("cannot build an HTTP client")
}

fn client_builder() -> reqwest::ClientBuilder {
    // In a workspace build reqwest has the host's TLS features, rustls without a chosen crypto
    // provider: choose the host's, ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30))
}

/// Signs in to the console at `admin` (`http://ADDR`) with `token`, as its form does; the session
/// cookie (`civic_session=…`) for later requests.
pub async fn console_session(admin: &str, token: &str) -> String {
    let signed = client_not_following()
        .post(format!("{admin}/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("a sign-in");
    assert_eq!(signed.status().as_u16(), 303, "the console refused the token");
    let cookie = signed.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
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

/// Sends raw bytes to `addr` and returns everything the server answers until it closes the
/// connection (send `connection: close`), for requests an HTTP client would refuse to make.
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    raw_exchange(addr, request, false)
}

/// [`raw_http`], shutting down the sending side after the request: a client that has said all
/// it will and waits for the answer.
pub fn raw_http_half_closed(addr: SocketAddr, request: &[u8]) -> String {
    raw_exchange(addr, request, true)
}

fn raw_exchange(addr: SocketAddr, request: &[u8], half_close: bool) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("cannot connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
    // The server may answer and close before it has read everything (a 413, say).
    let _ = stream.write_all(request);
    if half_close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A plain HTTP server on 127.0.0.1, for components to call: a request for `path` gets the status
/// and body `answer(path)` gives, then the connection closes; `None` never answers (a back-end
/// that hangs). Runs until the test's runtime ends.
pub async fn backend(answer: fn(&str) -> Option<(&'static str, &'static str)>) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let Some((status, body)) = answer(head.split_whitespace().nth(1).unwrap_or_default()) else {
                    return std::future::pending().await;
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// Today's date in UTC, as the components see it (`2026-11-22`).
pub fn today() -> String {
    let output = Command::new("date").args(["-u", "+%F"]).output().expect("`date` runs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A birth date `years` years before today, on the 15th of this month, so no month boundary is
/// near and no leap day is involved.
pub fn born_years_ago(years: i32) -> String {
    let today = today();
    let year: i32 = today[..4].parse().unwrap();
    format!("{}-{}-15", year - years, &today[5..7])
}
