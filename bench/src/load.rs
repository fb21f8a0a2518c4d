//! Servers under test and the load generator: each server is pinned to core 0 and `wrk` to core 1,
//! so they do not compete for a core; every run warms up first, and each figure is the median of
//! several runs.

use anyhow::{Context as _, bail};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The core the server runs on, and the core `wrk` runs on.
const SERVER_CORE: &str = "0";
const LOAD_CORE: &str = "1";

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// How long it took from spawn to listening.
    pub startup: Duration,
    /// The lines it prints after `listening on` (civic's `admin on http://ADDR`, its log).
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Starts `program ARGS…` pinned to the server core, with `env`, and waits (at most `timeout`)
    /// for its `listening on http://ADDR` line (or, with `addr_hint`, for that port to accept).
    pub fn start(program: &Path, args: &[String], env: &[(&str, &str)], timeout: Duration) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut child = Command::new("taskset")
            .args(["-c", SERVER_CORE])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self { child, addr: "0.0.0.0:0".parse()?, startup: Duration::ZERO, lines: rx };
        // `civic run` and native-hello print "listening on http://ADDR/"; wasmtime prints
        // "Serving HTTP on http://ADDR/".
        match server.next_addr(timeout) {
            Ok(addr) => server.addr = addr,
            Err(_) => bail!("{} did not start listening within {timeout:?}", program.display()),
        }
        server.startup = started.elapsed();
        Ok(server)
    }

    /// The next address the server announces (after the first: civic's `admin on http://ADDR`).
    pub fn next_addr(&self, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let line = self.wait_for("http://", timeout).context("no further address announced")?;
        let addr = line.split_once("http://").map_or("", |(_, addr)| addr.trim_end_matches('/'));
        addr.parse().with_context(|| format!("bad address `{addr}`"))
    }

    /// The next line it prints that contains `needle`, within `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line =
                self.lines.recv_timeout(left).with_context(|| format!("no line with `{needle}` within {timeout:?}"))?;
            if line.contains(needle) {
                return Ok(line);
            }
        }
    }

    /// The server's resident memory, from `/proc`.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
        let kib: u64 = line.split_whitespace().nth(1).context("no VmRSS value")?.parse()?;
        Ok(kib * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, in microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, in microseconds.
    pub p99_us: f64,
    /// Responses that were not 2xx/3xx, plus socket errors.
    pub errors: u64,
}

/// How hard and how long to load a server.
#[derive(Clone, Debug)]
pub struct LoadShape {
    /// Concurrent connections.
    pub connections: u32,
    /// How long each measured run lasts.
    pub duration: Duration,
    /// Measured runs; the median is reported.
    pub runs: usize,
    /// An optional `wrk` Lua script (for PUT requests, say).
    pub script: Option<std::path::PathBuf>,
}

/// Warms `url` up for two seconds, then runs `wrk` `shape.runs` times and keeps the median run.
pub fn measure(url: &str, shape: &LoadShape) -> anyhow::Result<Load> {
    wrk(url, shape, Duration::from_secs(2))?;
    let mut runs = (0..shape.runs).map(|_| wrk(url, shape, shape.duration)).collect::<anyhow::Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    Ok(runs[runs.len() / 2])
}

fn wrk(url: &str, shape: &LoadShape, duration: Duration) -> anyhow::Result<Load> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", LOAD_CORE, "wrk", "--latency", "-t1"])
        .arg(format!("-c{}", shape.connections))
        .arg(format!("-d{}s", duration.as_secs().max(1)));
    if let Some(script) = &shape.script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().context("cannot run wrk (is it installed? bench/run installs it)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Load> {
    let field = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    let rps = field("Requests/sec:")?.parse().ok()?;
    let p50_us = duration_us(field("50%")?)?;
    let p99_us = duration_us(field("99%")?)?;
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0);
    let socket_errors: u64 = field("Socket errors:")
        .map(|rest| rest.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    Some(Load { rps, p50_us, p99_us, errors: non_2xx + socket_errors })
}

/// `812.00us`, `1.23ms`, `2.00s` → microseconds.
fn duration_us(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number,
        "ms" => number * 1e3,
        "s" => number * 1e6,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n  Latency Distribution\n     50%  812.00us\n     75%    1.01ms\n     90%    1.20ms\n     99%    2.50ms\n  123 requests in 10.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:  12345.67\nTransfer/sec:      1.00MB\n";
        let load = parse_wrk(text).unwrap();
        assert_eq!(load.rps, 12345.67);
        assert_eq!(load.p50_us, 812.0);
        assert_eq!(load.p99_us, 2500.0);
        assert_eq!(load.errors, 7);
    }
}
