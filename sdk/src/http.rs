//! Requests and responses as plain values: the body is read whole before the handler runs and
//! written whole after it returns, which suits the request/response services cities run.

use crate::__private::bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method as WasiMethod, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::__private::bindings::wasi::io::streams::StreamError;
use crate::problem::Problem;
use ::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest chunk `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// An HTTP request, with its whole body.
#[derive(Debug)]
pub struct Request {
    method: Method,
    path_with_query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The full path as the client sent it, without the query (`/kita/applications/7`).
    pub fn path(&self) -> &str {
        self.path_with_query.split_once('?').map_or(&self.path_with_query, |(path, _)| path)
    }

    /// The path below the prefix the city mounted the component at (Civic sends it as
    /// `x-forwarded-prefix`): `/applications/7` for `/kita/applications/7` under `/kita`.
    pub fn route_path(&self) -> &str {
        let prefix = self.header("x-forwarded-prefix").unwrap_or("").trim_end_matches('/');
        match self.path().strip_prefix(prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => self.path(),
        }
    }

    /// The body as JSON of type `T`; a 400 problem naming the offending field when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            // serde_json appends " at line L column C"; the field's name says more to a client.
            let reason = inner.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_owned();
            let named = |field: &str| match path.as_str() {
                "." | "" => field.to_owned(),
                path if path.ends_with(field) => path.to_owned(),
                path => format!("{path}.{field}"),
            };
            if let Some(field) = quoted_after(&reason, "missing field `") {
                Problem::invalid(named(field), "is missing")
            } else if let Some(field) = quoted_after(&reason, "unknown field `") {
                Problem::invalid(named(field), "is not a field of this request")
            } else if inner.classify() == serde_json::error::Category::Data && path != "." {
                Problem::invalid(path, reason)
            } else {
                Problem::bad_request(format!("the body is not the expected JSON: {reason}"))
            }
        })?;
        deserializer.end().map_err(|_| Problem::bad_request("the body has more after its JSON value"))?;
        Ok(value)
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.path_with_query.split_once('?').map(|(_, query)| query)
    }

    /// The first value of a query parameter, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == name).then(|| percent_decode(value))
        })
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Builds a request by hand, to test a handler outside a host.
    pub fn new(method: Method, path_with_query: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self { method, path_with_query: path_with_query.into(), headers: HeaderMap::new(), body: body.into() }
    }

    /// Adds a header (for tests); invalid names or values are ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(name, value);
        }
        self
    }
}

/// An HTTP response, with its whole body.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`; an out-of-range status becomes 500.
    pub fn new(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, headers: HeaderMap::new(), body: Vec::new() }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::new(status).header("content-type", "text/plain; charset=utf-8").body(text.into())
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status).header("content-type", "application/json").body(body),
            Err(e) => Problem::internal(format_args!("cannot encode the answer as JSON: {e}")).into_response(),
        }
    }

    /// Sets a header, replacing any previous value; invalid names or values are ignored.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.insert(name, value);
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }
}

/// What a handler may return.
pub trait IntoResponse {
    /// Converts into the response sent to the client.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

/// Reads the request, runs `handler`, writes its response.
#[doc(hidden)]
pub fn serve<R: IntoResponse>(incoming: IncomingRequest, out: ResponseOutparam, handler: impl FnOnce(Request) -> R) {
    let response = match read_request(incoming) {
        Ok(request) => handler(request).into_response(),
        Err(message) => Response::text(400, message),
    };
    write_response(response, out);
}

fn read_request(incoming: IncomingRequest) -> Result<Request, String> {
    let method = match incoming.method() {
        WasiMethod::Get => Method::GET,
        WasiMethod::Head => Method::HEAD,
        WasiMethod::Post => Method::POST,
        WasiMethod::Put => Method::PUT,
        WasiMethod::Delete => Method::DELETE,
        WasiMethod::Connect => Method::CONNECT,
        WasiMethod::Options => Method::OPTIONS,
        WasiMethod::Trace => Method::TRACE,
        WasiMethod::Patch => Method::PATCH,
        WasiMethod::Other(other) => {
            Method::from_bytes(other.as_bytes()).map_err(|_| format!("bad method `{other}`"))?
        }
    };
    let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut headers = HeaderMap::new();
    for (name, value) in incoming.headers().entries() {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    let body = incoming.consume().map_err(|()| "the request body was already taken".to_owned())?;
    let bytes = read_body(&body)?;
    IncomingBody::finish(body);
    Ok(Request { method, path_with_query, headers, body: bytes })
}

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = body.stream().map_err(|()| "the request body stream was already taken".to_owned())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the request body failed: {}", e.to_debug_string()));
            }
        }
    }
}

fn write_response(response: Response, out: ResponseOutparam) {
    let mut entries: Vec<(String, Vec<u8>)> =
        response.headers.iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect();
    // With the length known, the host ends the response at its last byte instead of waiting for
    // this handler to return and its instance to be torn down.
    let status = response.status.as_u16();
    let may_have_body = !(status < 200 || status == 204 || status == 304);
    if may_have_body && !response.headers.contains_key(::http::header::CONTENT_LENGTH) {
        entries.push(("content-length".to_owned(), response.body.len().to_string().into_bytes()));
    }
    let (fields, status, body) = match Fields::from_list(&entries) {
        Ok(fields) => (fields, response.status.as_u16(), response.body),
        // A header the host forbids (`connection`, say) is the component's bug: say so.
        Err(e) => (Fields::new(), 500, format!("the component set a forbidden header: {e:?}").into_bytes()),
    };
    let outgoing = OutgoingResponse::new(fields);
    // Statuses come from `StatusCode`, which only holds values the host accepts.
    let _ = outgoing.set_status_code(status);
    let outgoing_body = outgoing.body().expect("a new response's body is taken once");
    ResponseOutparam::set(out, Ok(outgoing));
    {
        let stream = outgoing_body.write().expect("a new body's stream is taken once");
        for chunk in body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing is left to tell it.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}

/// The name in serde's "missing field `name`" or "unknown field `name`, …" messages.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'+' => b' ',
            b'%' => match bytes.get(i + 1..i + 3).and_then(hex_byte) {
                Some(byte) => {
                    i += 2;
                    byte
                }
                None => b'%',
            },
            other => other,
        };
        decoded.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let request = Request::new(Method::GET, "/hello?name=Ana+Mar%C3%ADa&x=%zz&empty", "");
        assert_eq!(request.path(), "/hello");
        assert_eq!(request.query_param("name").as_deref(), Some("Ana María"));
        assert_eq!(request.query_param("x").as_deref(), Some("%zz"));
        assert_eq!(request.query_param("empty").as_deref(), Some(""));
        assert_eq!(request.query_param("missing"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
