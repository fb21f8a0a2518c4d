//! `/leftovers/write?NONCE` writes `heap:NONCE`, `stack:NONCE` and `global:NONCE` into the three
//! places a request's data lives, then searches linear memory for them (so the search is known to
//! see them); `/leftovers/read?NONCE` only searches. Each answers `heap=N stack=N global=N`, the
//! copies found outside the search's own needles. Written against `wasi:http` directly, so that
//! nothing but this code touches the secret.

use std::io::Write as _;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Leftovers;

wasi::http::proxy::export!(Leftovers);

/// Where the global secret goes: zeroed memory of the module (`.bss`).
static mut GLOBAL: [u8; 4096] = [0; 4096];

const PLACES: [&str; 3] = ["heap", "stack", "global"];

impl wasi::exports::http::incoming_handler::Guest for Leftovers {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (action, nonce) = path.trim_start_matches("/leftovers/").split_once('?').unwrap_or(("", ""));
        if nonce.len() < 16 {
            return respond(out, 400, "want /leftovers/write?NONCE or /leftovers/read?NONCE, NONCE ≥ 16 bytes\n");
        }
        // Built in place at their final size: a reallocation would leave a copy behind.
        let needles = PLACES.map(|place| {
            let mut needle = Vec::with_capacity(place.len() + 1 + nonce.len());
            needle.extend_from_slice(place.as_bytes());
            needle.push(b':');
            needle.extend_from_slice(nonce.as_bytes());
            needle
        });
        match action {
            "write" => {
                std::mem::forget(std::hint::black_box(needles[0].repeat(16)));
                fill_stack(&needles[1]);
                // SAFETY: one request runs in an instance at a time, and nothing else holds it.
                let global = unsafe { &mut *std::ptr::addr_of_mut!(GLOBAL) };
                for (slot, byte) in global.iter_mut().zip(needles[2].iter().cycle()) {
                    *slot = *byte;
                }
                std::hint::black_box(global);
            }
            "read" => {}
            _ => return respond(out, 404, "no such action\n"),
        }
        let counts = needles.each_ref().map(|needle| copies(needle));
        let text = PLACES.iter().zip(counts).map(|(place, n)| format!("{place}={n}")).collect::<Vec<_>>().join(" ");
        respond(out, 200, &format!("{text}\n"))
    }
}

/// Leaves copies of `needle` in a frame of the shadow stack (in linear memory), which stays
/// behind below the stack pointer once the function returns.
#[inline(never)]
fn fill_stack(needle: &[u8]) {
    let mut frame = [0u8; 2048];
    for (slot, byte) in frame.iter_mut().zip(needle.iter().cycle()) {
        *slot = *byte;
    }
    std::hint::black_box(&mut frame);
}

/// How many times `needle` occurs in linear memory, not counting `needle` itself.
fn copies(needle: &[u8]) -> usize {
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let own = needle.as_ptr().addr();
    // Address 0 is not a valid Rust pointer; nothing of interest lives in the first bytes.
    let start = 8;
    // SAFETY: every address in `start..size` is in this instance's memory, and it is only read.
    let memory = unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance::<u8>(start), size - start) };
    let first = needle[0];
    let mut found = 0;
    for (offset, window) in memory.windows(needle.len()).enumerate() {
        if window[0] == first && window == needle && start + offset != own {
            found += 1;
        }
    }
    found
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
