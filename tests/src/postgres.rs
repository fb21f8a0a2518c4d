//! A throwaway PostgreSQL server for the tests: `initdb` into a temporary directory, started on a
//! free port of 127.0.0.1 with a password login, and stopped when dropped. One serves a whole test
//! binary ([`Postgres::shared`]); each test takes a database of its own ([`Postgres::database`]).
//!
//! `initdb` refuses to run as root, so as root the server runs as the `postgres` user (which the
//! Debian package creates). The binaries are looked up on `PATH`, then in Debian's
//! `/usr/lib/postgresql/*/bin`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The user the tests log in as, and its password.
pub const USER: &str = "civic";
pub const PASSWORD: &str = "pg-s3cret-for-tests";

pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    databases: AtomicUsize,
}

impl Postgres {
    /// The server of this test binary, started by the first test that asks; it stops when the
    /// last test holding it ends.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        crate::shared(&SHARED, Self::start)
    }

    fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        std::fs::write(dir.path().join("password"), PASSWORD).unwrap();
        if running_as_root() {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
            assert!(chown.is_ok_and(|s| s.success()), "cannot hand the directory to the `postgres` user");
        }
        let data = dir.path().join("data");
        let pwfile = dir.path().join("password");
        let initdb = as_server_user(&bin.join("initdb"))
            .args(["--auth=scram-sha-256", "--username", USER, "--no-sync", "--pwfile"])
            .arg(&pwfile)
            .arg("-D")
            .arg(&data)
            .output()
            .expect("cannot run initdb");
        check(&initdb, "initdb");
        let server = Self { dir, port, bin, databases: AtomicUsize::new(0) };
        server.start_again();
        server
    }

    /// `postgres://civic:…@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database on the server; its URL.
    pub fn database(&self) -> String {
        let name = format!("test_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let created = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, &name])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("cannot run createdb");
        check(&created, "createdb");
        self.url(&name)
    }

    /// Runs `sql` in the database at `url` (one of [`Postgres::database`]'s), with psql.
    pub fn sql(&self, url: &str, sql: &str) {
        self.query(url, sql);
    }

    /// Runs `sql` and answers what it printed: rows unaligned, without headers (`psql -tA`).
    pub fn query(&self, url: &str, sql: &str) -> String {
        let ran = Command::new(self.bin.join("psql"))
            .args([url, "--no-psqlrc", "--quiet", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("cannot run psql");
        check(&ran, "psql");
        String::from_utf8_lossy(&ran.stdout).trim().to_owned()
    }

    /// Stops the server, as an outage would (`pg_ctl stop -m fast`: connections are cut).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    }

    /// Starts the stopped server again, on the same port with the same data.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "-l",
            &self.dir.path().join("log").display().to_string(),
        ]);
    }

    /// Freezes every process of the server (SIGSTOP): connections stay open and nothing answers,
    /// as when the network to the database goes silent.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).expect("a running server");
        let pid = pid.lines().next().expect("the server's pid").trim().to_owned();
        // The server's children (one per connection) first, then the server itself.
        let _ = Command::new("pkill").args([signal, "-P", &pid]).status();
        let sent = Command::new("kill").args([signal, &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send {signal} to the server");
    }

    fn pg_ctl(&self, args: &[&str]) {
        let output = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(args)
            .output()
            .expect("cannot run pg_ctl");
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
            panic!("pg_ctl {args:?} failed: {}\n{log}", String::from_utf8_lossy(&output.stderr));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate", "-w", "-t", "30"])
            .output();
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program`, run as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Where `initdb` and its siblings are.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("createdb").is_file());
    let debian = || {
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
        versions.sort();
        versions.into_iter().rev().map(|v| v.join("bin")).find(|bin| bin.join("initdb").is_file())
    };
    on_path.or_else(debian).expect("no PostgreSQL server binaries (initdb): `apt-get install postgresql`")
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
