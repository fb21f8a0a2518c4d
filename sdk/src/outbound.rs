//! Calls to other HTTP services — a city's legacy back-ends — through the standard
//! `wasi:http/outgoing-handler`. The host sends a request only to an origin the component's
//! manifest entry lists (`outbound = ["http://registry.example:9000"]`); any other fails with
//! [`Error::Denied`].
//!
//! ```no_run
//! use civic_sdk::outbound::{Call, Error};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Error> {
//! let reply = Call::get("http://registry.example:9000/status?doc=L01X00T47")
//!     .header("accept", "application/xml")
//!     .timeout(Duration::from_secs(2))
//!     .send()?;
//! if reply.status == 200 {
//!     let xml = String::from_utf8_lossy(&reply.body);
//! }
//! # Ok(())
//! # }
//! ```

use crate::__private::bindings::wasi::http::outgoing_handler;
use crate::__private::bindings::wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::__private::bindings::wasi::io::streams::StreamError;
use std::fmt;
use std::time::Duration;

/// The largest chunk `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The URL is not an absolute `http://` or `https://` URL.
    BadUrl(String),
    /// The origin is not in the component's `outbound` list.
    Denied,
    /// No answer (or no more of it) within the timeout.
    Timeout,
    /// The other side could not be reached: refused, unknown host, reset.
    Unreachable(String),
    /// Anything else the host reported.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "`{url}` is not an absolute http(s) URL"),
            Self::Denied => {
                f.write_str("the host denied the request: its origin is not in the manifest's `outbound` list")
            }
            Self::Timeout => f.write_str("no answer in time"),
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::HttpRequestDenied => Self::Denied,
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::DnsTimeout => Self::Timeout,
            ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTerminated
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DnsError(_) => Self::Unreachable(format!("{code:?}")),
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// An outgoing request, built up and then sent.
pub struct Call {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (compared without case), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }
}

impl Call {
    /// `GET url`.
    pub fn get(url: &str) -> Self {
        Self::new(Method::Get, url)
    }

    /// `POST url` with `body`.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { body: body.into(), ..Self::new(Method::Post, url) }
    }

    fn new(method: Method, url: &str) -> Self {
        Self { method, url: url.to_owned(), headers: Vec::new(), body: Vec::new(), timeout: None }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    /// Gives up when connecting, the first byte of the answer, or any later byte takes longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and reads the whole answer.
    pub fn send(self) -> Result<Reply, Error> {
        let uri: ::http::Uri = self.url.parse().map_err(|_| Error::BadUrl(self.url.clone()))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(Error::BadUrl(self.url)),
        };
        let authority = uri.authority().ok_or_else(|| Error::BadUrl(self.url.clone()))?.as_str();
        let headers = Fields::from_list(&self.headers).map_err(|e| Error::Other(format!("bad header: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let set = request.set_method(&self.method).is_ok()
            && request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(authority)).is_ok()
            && request.set_path_with_query(Some(path)).is_ok();
        if !set {
            return Err(Error::BadUrl(self.url));
        }
        let body = request.body().map_err(|()| Error::Other("the request body was already taken".into()))?;

        let options = self.timeout.map(|timeout| {
            let options = RequestOptions::new();
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            // A host that does not support one of these timeouts still has the request deadline.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
            options
        });
        let pending = outgoing_handler::handle(request, options)?;
        {
            let stream = body.write().map_err(|()| Error::Other("the request body stream was already taken".into()))?;
            for chunk in self.body.chunks(WRITE_CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|e| Error::Other(format!("sending the body: {e:?}")))?;
            }
        }
        OutgoingBody::finish(body, None)?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(result)) => result?,
            _ => return Err(Error::Other("the host lost the response".into())),
        };
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| Error::Other("the response body was already taken".into()))?;
        let mut bytes = Vec::new();
        {
            let stream =
                incoming.stream().map_err(|()| Error::Other("the response stream was already taken".into()))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(match crate::__private::bindings::wasi::http::types::http_error_code(&e) {
                            Some(code) => code.into(),
                            None => Error::Other(e.to_debug_string()),
                        });
                    }
                }
            }
        }
        Ok(Reply { status, headers, body: bytes })
    }
}
