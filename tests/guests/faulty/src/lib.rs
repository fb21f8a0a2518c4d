//! Each path is one way for a guest to misbehave (or to reach for what it may not: `/read` and
//! `/write` try `/data`); `/ok` is the control. Written against
//! `wasi:http` directly, because an SDK would not let a guest misbehave this freely.

use std::io::Write as _;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Faulty;

wasi::http::proxy::export!(Faulty);

impl wasi::exports::http::incoming_handler::Guest for Faulty {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        match path.trim_start_matches("/faulty") {
            "/panic" => panic!("the faulty component panics on purpose"),
            "/unreachable" => std::process::abort(),
            "/no-response" => drop(out),
            "/loop" => spin(),
            "/sleep" => {
                eprintln!("going to sleep for an hour");
                wasi::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000).block();
            }
            // Short work, for queues to form behind: 5 ms, or `?ms=N`.
            nap if nap.starts_with("/nap") => {
                let ms = nap.strip_prefix("/nap?ms=").and_then(|ms| ms.parse().ok()).unwrap_or(5u64);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, "rested\n")
            }
            "/grow" => grow(),
            "/recurse" => {
                recurse(0);
            }
            "/stream-then-trap" => stream_then_trap(out),
            "/huge" => huge(out),
            "/read" => match std::fs::read_to_string("/data/greeting.txt") {
                Ok(text) => respond(out, 200, &text),
                Err(e) => respond(out, 403, &format!("cannot read: {e}\n")),
            },
            "/pieces" => {
                // A line in pieces, through Rust's `print!` and through `blocking-write` calls on
                // a fresh stdout handle each, then an empty line, then a line it never ends.
                print!("start");
                let _ = std::io::stdout().flush();
                for piece in [" a print", " 1234\n", "\n", "the end"] {
                    let _ = wasi::cli::stdout::get_stdout().blocking_write_and_flush(piece.as_bytes());
                }
                respond(out, 200, "printed\n")
            }
            "/env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect();
                respond(out, 200, &vars.concat())
            }
            "/write" => match std::fs::write("/data/written.txt", "written by the guest") {
                Ok(()) => respond(out, 200, "written\n"),
                Err(e) => respond(out, 403, &format!("cannot write: {e}\n")),
            },
            _ => respond(out, 200, "still standing\n"),
        }
    }
}

/// Never returns and never calls the host.
fn spin() {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Allocates 1 MiB at a time and keeps it, until allocation fails.
fn grow() {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

/// Recurses until the stack runs out (the bound is never reached).
fn recurse(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    std::hint::black_box(recurse(depth + 1) + 1)
}

/// Sends the head and part of the body, then traps.
fn stream_then_trap(out: ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().unwrap();
    stream.write_all(b"the beginning of a long answer\n").unwrap();
    stream.flush().unwrap();
    panic!("the faulty component fails mid-body on purpose");
}

/// Writes 256 MiB of body.
fn huge(out: ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..4096 {
        if stream.write_all(&chunk).is_err() {
            return;
        }
    }
    drop(stream);
    OutgoingBody::finish(body, None).unwrap();
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).unwrap();
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    stream.flush().unwrap();
    drop(stream);
    OutgoingBody::finish(body, None).unwrap();
}
