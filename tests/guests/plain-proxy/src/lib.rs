//! Knows nothing of Civic: it echoes the request line back, using only `wasi:http`.

use std::io::Write as _;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Echo;

wasi::http::proxy::export!(Echo);

impl wasi::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let text =
            format!("plain proxy saw {:?} {}\n", request.method(), request.path_with_query().unwrap_or_default());
        let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())]).unwrap();
        let response = OutgoingResponse::new(headers);
        response.set_status_code(203).unwrap();
        let body = response.body().unwrap();
        ResponseOutparam::set(out, Ok(response));
        let mut stream = body.write().unwrap();
        stream.write_all(text.as_bytes()).unwrap();
        stream.flush().unwrap();
        drop(stream);
        OutgoingBody::finish(body, None).unwrap();
    }
}
