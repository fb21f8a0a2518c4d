//! Each path is one way for a guest to fail; `/ok` is the control. Written against `wasi:http`
//! directly, because an SDK would not let a guest misbehave this freely.

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
            _ => respond(out, 200, "still standing\n"),
        }
    }
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
