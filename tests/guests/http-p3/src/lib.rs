//! A WASI 0.3 service: `wasi:http/handler@0.3.0` exported through the async component model,
//! with Civic's platform interfaces (config, key-value, links) imported beside it.
//!
//! - `GET /hello`: a greeting.
//! - `GET /calls`: how many requests this instance has handled.
//! - `GET /stream?mib=N`: N MiB written in 64 KiB chunks while the host sends them on.
//! - `POST /count`: reads the request body as a stream and answers how many bytes came.
//! - `GET /spin`: never answers (a busy loop), for the deadline.
//! - `GET /grow?mib=N`: holds N MiB at once, for the memory budget.
//! - `GET /fetch?url=U`: sends `GET U` through `wasi:http/client`, for the outbound allowlist.
//! - `GET /config/KEY`: the value of `KEY` in its config.
//! - `GET /visits`: counts visits in its `visits` bucket.
//! - `GET /tax`: a household's tax, from whichever component its `civic:tax` link names.
//!
//! It also serves `civic:tax/assessment` itself, so a WASI 0.2 component can call it.

use civic_sdk::tax;
use civic_sdk::tax::exports::{Assessment, Failure, Guest as Tax, Household, Line};
use std::sync::atomic::{AtomicU32, Ordering};
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wasip3::wit_bindgen::{self, StreamResult};
use wasip3::{wit_future, wit_stream};

wasip3::http::service::export!(Service);
civic_sdk::export!(tax = Service);

struct Service;

const CHUNK: usize = 64 << 10;

/// Requests this instance has handled: 1 on every request when each has an instance of its own.
static CALLS: AtomicU32 = AtomicU32::new(0);

impl wasip3::exports::http::handler::Guest for Service {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let target = request.get_path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        // Where the city mounted it, which the host says.
        let mounted = request.get_headers().get("x-forwarded-prefix").into_iter().next().unwrap_or_default();
        let path = path.strip_prefix(std::str::from_utf8(&mounted).unwrap_or_default()).unwrap_or(path);
        let number = |name: &str| {
            query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse::<usize>().ok())
        };
        match (request.get_method(), path) {
            (Method::Get, "/hello") => Ok(text(200, "hello from wasi:http 0.3\n".into())),
            (Method::Get, "/calls") => {
                let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                Ok(text(200, format!("call {call} of this instance\n")))
            }
            (Method::Get, "/stream") => Ok(stream(number("mib").unwrap_or(1) << 20)),
            (Method::Post, "/count") => Ok(text(200, format!("{} bytes\n", count(request).await?))),
            (Method::Get, "/spin") => spin(),
            (Method::Get, "/grow") => {
                let held = vec![1u8; number("mib").unwrap_or(1) << 20];
                Ok(text(200, format!("held {} MiB\n", held.iter().map(|&b| usize::from(b)).sum::<usize>() >> 20)))
            }
            (Method::Get, "/fetch") => {
                let url = query.strip_prefix("url=").unwrap_or_default();
                Ok(match fetch(url).await {
                    Ok(status) => text(200, format!("upstream answered {status}\n")),
                    Err(code) => text(502, format!("upstream refused: {code:?}\n")),
                })
            }
            (Method::Get, path) if path.starts_with("/config/") => match civic_sdk::config::get(&path[8..]) {
                Some(value) => Ok(text(200, value)),
                None => Ok(text(404, "no such key\n".into())),
            },
            (Method::Get, "/visits") => {
                let bucket = civic_sdk::kv::Bucket::open("visits").map_err(internal)?;
                Ok(text(200, format!("visit {}\n", bucket.increment("count", 1).map_err(internal)?)))
            }
            (Method::Get, "/tax") => {
                let household = tax::Household {
                    members: 2,
                    dogs: Vec::new(),
                    low_income: false,
                    second_home_annual_rent_cents: None,
                };
                Ok(match tax::assess(&household) {
                    Ok(assessed) => {
                        text(200, format!("{} cents: {}\n", assessed.total_cents, assessed.lines[0].reason))
                    }
                    Err(failure) => text(502, format!("the tax service refused: {failure:?}\n")),
                })
            }
            _ => Ok(text(404, "not found\n".into())),
        }
    }
}

impl Tax for Service {
    fn assess(household: Household) -> Result<Assessment, Failure> {
        let cents = u64::from(household.members) * 100;
        let line =
            Line { tax: "waste".into(), item: "household".into(), cents, reason: "assessed by wasi:http 0.3".into() };
        Ok(Assessment { lines: vec![line], reduction_cents: 0, total_cents: cents })
    }
}

/// A response whose body `write` produces, in a task of its own that runs on after `handle`
/// has returned the response.
fn respond(status: u16, write: impl Future<Output = ()> + 'static, body: wit_bindgen::StreamReader<u8>) -> Response {
    let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
    let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())]).expect("valid headers");
    let (response, _sent) = Response::new(headers, Some(body), trailers);
    response.set_status_code(status).expect("a valid status");
    wit_bindgen::spawn_local(async move {
        write.await;
        drop(trailers_tx);
    });
    response
}

fn text(status: u16, text: String) -> Response {
    let (mut tx, rx) = wit_stream::new();
    respond(
        status,
        async move {
            tx.write_all(text.into_bytes()).await;
        },
        rx,
    )
}

fn stream(bytes: usize) -> Response {
    let (mut tx, rx) = wit_stream::new();
    let write = async move {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK);
            if !tx.write_all(vec![b'x'; n]).await.is_empty() {
                return; // the reader went away
            }
            left -= n;
        }
    };
    respond(200, write, rx)
}

/// Reads the request body as it arrives, handing each chunk to `each`.
async fn read(request: Request, mut each: impl FnMut(&[u8])) -> Result<(), ErrorCode> {
    let (_result_tx, result) = wit_future::new(|| Ok(()));
    let (mut body, trailers) = Request::consume_body(request, result);
    let mut buffer = Vec::with_capacity(CHUNK);
    loop {
        let (status, read) = body.read(buffer).await;
        each(&read);
        buffer = read;
        buffer.clear();
        if let StreamResult::Dropped = status {
            break;
        }
    }
    trailers.await.map(|_| ())
}

async fn count(request: Request) -> Result<usize, ErrorCode> {
    let mut total = 0;
    read(request, |chunk| total += chunk.len()).await?;
    Ok(total)
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

async fn fetch(url: &str) -> Result<u16, ErrorCode> {
    let (scheme, rest) = url.split_once("://").ok_or(ErrorCode::HttpRequestUriInvalid)?;
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let (_tx, trailers) = wit_future::new(|| Ok(None));
    let (request, _sent) = Request::new(Fields::new(), None, trailers, None);
    request
        .set_scheme(Some(&if scheme == "https" { Scheme::Https } else { Scheme::Http }))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    request.set_authority(Some(authority)).map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    request.set_path_with_query(Some(&path)).map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    let response = wasip3::http::client::send(request).await?;
    Ok(response.get_status_code())
}

fn internal(error: impl std::fmt::Display) -> ErrorCode {
    ErrorCode::InternalError(Some(error.to_string()))
}
