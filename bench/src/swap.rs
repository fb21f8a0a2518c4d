//! Scenario 6: hot swap. Latency of `GET /hello` while the component is swapped between two
//! versions every 100 ms, next to steady state; and, without load, how long a swap takes from
//! the `PUT` to the new version being live, and to the first reply from it.

use crate::load::measure;
use crate::{Options, start_civic_with};
use anyhow::{Context as _, ensure};
use civic_tests::edit::with_custom_section;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: u32 = 32;
/// The admin token of every host the benchmarks start with the admin API on.
pub const TOKEN: &str = "bench-admin-token-of-32-characters";
const SWAP_EVERY: Duration = Duration::from_millis(100);
/// Swaps timed one by one, without load.
const TIMED_SWAPS: usize = 20;
const PUT_PATH: &str = "/v1/cities/bench/components/service";

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hello = options.plugin("hello_city");
    let manifest = crate::bench_city(dir.path(), &hello, "/hello", crate::http::HELLO_CONFIG)?;
    let admin_args = ["--admin", "127.0.0.1:0"];
    let civic = start_civic_with(options, dir.path(), &[manifest], &admin_args, &[("CIVIC_ADMIN_TOKEN", TOKEN)])?;
    let admin = civic.next_addr(Duration::from_secs(10))?;
    let url = format!("http://{}/hello", civic.addr);

    // Two versions that behave alike, so latency compares like with like: the second is the
    // first with a custom section appended (another hash, the same code).
    let v1 = std::fs::read(&hello)?;
    let v2 = with_custom_section(&v1, "civic-bench", b"v2");
    let versions = [v1, v2];
    // The first swap to v2 compiles it; after that both are in the compile cache.
    let started = Instant::now();
    put(admin, &versions[1])?;
    let cold = started.elapsed();
    put(admin, &versions[0])?;

    let shape = options.shape(CONNECTIONS);
    let steady = measure(&url, &shape)?;

    let swapping = Arc::new(AtomicBool::new(true));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (swapping, swaps, versions) = (swapping.clone(), swaps.clone(), versions.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            while swapping.load(Ordering::Relaxed) {
                put(admin, &versions[swaps.load(Ordering::Relaxed) % 2])?;
                swaps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(SWAP_EVERY);
            }
            Ok(())
        })
    };
    let during = measure(&url, &shape);
    swapping.store(false, Ordering::Relaxed);
    swapper.join().expect("the swapping thread")?;
    let during = during?;

    let mut live = Vec::with_capacity(TIMED_SWAPS);
    let mut first_reply = Vec::with_capacity(TIMED_SWAPS);
    for i in 0..TIMED_SWAPS {
        let started = Instant::now();
        put(admin, &versions[i % 2])?;
        live.push(started.elapsed());
        let (status, _) = exchange(civic.addr, "GET", "/hello", &[])?;
        ensure!(status == 200, "GET /hello answered {status} after a swap");
        first_reply.push(started.elapsed());
    }

    println!("## Hot swap ({CONNECTIONS} connections; a swap every {SWAP_EVERY:?} during the second row)\n");
    println!("| load | requests/s | p50 | p99 | errors |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    crate::http::row("steady", &steady);
    crate::http::row("while swapping", &during);
    let swaps = swaps.load(Ordering::Relaxed);
    println!(
        "\np99 while swapping / steady = {:.2} (goal ≤ 2); {swaps} swaps during the run",
        during.p99_us / steady.p99_us
    );
    let ms = |mut times: Vec<Duration>| {
        times.sort_unstable();
        (times[times.len() / 2].as_secs_f64() * 1e3, times[times.len() - 1].as_secs_f64() * 1e3)
    };
    let ((live_p50, live_max), (reply_p50, reply_max)) = (ms(live), ms(first_reply));
    println!(
        "PUT → live: p50 {live_p50:.1} ms (max {live_max:.1}); PUT → first reply of the new version: p50 {reply_p50:.1} ms (max {reply_max:.1}), {TIMED_SWAPS} swaps without load"
    );
    println!("PUT → live for a version never compiled before: {:.0} ms\n", cold.as_secs_f64() * 1e3);
    Ok(())
}

fn put(admin: SocketAddr, wasm: &[u8]) -> anyhow::Result<()> {
    let (status, body) = exchange(admin, "PUT", PUT_PATH, wasm)?;
    ensure!(status == 200, "the swap answered {status}: {body}");
    Ok(())
}

/// One HTTP/1.1 request on a fresh connection; the status and body.
pub fn exchange(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).and_then(|code| code.parse().ok()).context("not an HTTP answer")?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    Ok((status, body))
}
