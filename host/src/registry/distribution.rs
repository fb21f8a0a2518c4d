//! The OCI distribution API's reads, each body read up to a bound: manifests, tag lists and
//! catalogue pages (at most [`MAX_DOCUMENT`]), and blobs (at most what their manifest declares,
//! and never more than the host's largest component). The OCI client reads whole bodies into
//! memory, so a registry that sends a 2 GiB "manifest" would be held in full; these stop at the
//! bound, whatever the registry declares or sends.

use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use std::time::Duration;

/// The largest manifest, config, tag list or catalogue page read.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// What a GET could not give.
#[derive(Debug)]
pub enum ReadError {
    /// The registry could not be reached or stopped answering.
    Unreachable(String),
    /// It answered with an error status; the codes of its error envelope, when it sent one.
    Status { status: StatusCode, codes: Vec<String>, message: String },
    /// The body is larger than the bound (declared or sent).
    TooLarge,
    /// The body broke off.
    Broken(String),
}

/// A body, and the digest the registry says it has (`Docker-Content-Digest`).
pub struct Body {
    pub bytes: Vec<u8>,
    pub digest: Option<String>,
}

/// The client the reads go through: one connection pool for every registry.
pub struct Distribution {
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<EnvelopeError>,
}

#[derive(Deserialize)]
struct EnvelopeError {
    code: String,
}

impl Distribution {
    /// A registry may take `patience` to accept a connection and to send the next bytes, and
    /// `total` for one whole request.
    pub fn new(patience: Duration, total: Duration) -> Self {
        let http = reqwest::Client::builder().connect_timeout(patience).read_timeout(patience).timeout(total).build();
        // Building fails only when the TLS backend cannot start; the default then stands in, as
        // the OCI client does.
        Self { http: http.unwrap_or_default() }
    }

    /// `GET url` with `authorization` and `accept`, its body read up to `max` bytes.
    pub async fn get(
        &self,
        url: &str,
        authorization: Option<&HeaderValue>,
        accept: Option<&'static str>,
        max: u64,
    ) -> Result<Body, ReadError> {
        let mut request = self.http.get(url);
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let mut response = request.send().await.map_err(|e| ReadError::Unreachable(cause(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = read(&mut response, MAX_DOCUMENT.min(64 << 10)).await.unwrap_or_default();
            let codes = serde_json::from_slice::<Envelope>(&body).map(|e| e.errors).unwrap_or_default();
            // The registry's words go to terminals and logs: without control characters.
            let message = String::from_utf8_lossy(&body).chars().take(200).flat_map(char::escape_debug).collect();
            return Err(ReadError::Status { status, codes: codes.into_iter().map(|e| e.code).collect(), message });
        }
        if response.content_length().is_some_and(|length| length > max) {
            return Err(ReadError::TooLarge);
        }
        let digest = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Body { bytes: read(&mut response, max).await?, digest })
    }
}

/// The rest of `response`'s body, failing as soon as it passes `max` bytes.
async fn read(response: &mut reqwest::Response, max: u64) -> Result<Vec<u8>, ReadError> {
    // A declared length within the bound is reserved at once (the whole component is held
    // anyway), so the bytes are copied once.
    let expected = response.content_length().filter(|length| *length <= max).unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(|e| ReadError::Broken(cause(&e)))? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error with its cause: reqwest's own message is only its kind.
fn cause(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text += &format!(": {inner}");
        source = inner.source();
    }
    text
}
