//! What a request head must be before it is routed: at most [`MAX_HEAD_BYTES`], and naming one
//! host as RFC 9112 §3.2 says — an absolute-form target names it (any `Host` is then ignored),
//! else exactly one valid `Host` header, which HTTP/1.1 requires.

use http::uri::Authority;
use http::{Request, StatusCode, Version, header};

/// The largest request head, as the README says; hyper's own buffer bound is not exact.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Why a head is refused, with its status.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadHead {
    #[error("the request head is larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("the request has more than one Host header")]
    TwoHosts,
    #[error("an HTTP/1.1 request needs a Host header")]
    NoHost,
    #[error("the Host header is not a host name with an optional port")]
    InvalidHost,
}

impl BadHead {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TwoHosts | Self::NoHost | Self::InvalidHost => StatusCode::BAD_REQUEST,
        }
    }
}

/// The host `request` is for (`HOST[:PORT]`; `None` from an HTTP/1.0 client that names none),
/// or why its head is refused.
pub fn host<B>(request: &Request<B>) -> Result<Option<&str>, BadHead> {
    if size(request) > MAX_HEAD_BYTES {
        return Err(BadHead::TooLarge);
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let (header, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(BadHead::TwoHosts);
    }
    if let Some(authority) = request.uri().authority() {
        return Ok(Some(authority.as_str()));
    }
    let Some(header) = header else {
        return if request.version() == Version::HTTP_11 { Err(BadHead::NoHost) } else { Ok(None) };
    };
    let text = header.to_str().map_err(|_| BadHead::InvalidHost)?;
    match text.parse::<Authority>() {
        Ok(authority) if !text.contains('@') && !authority.host().is_empty() => Ok(Some(text)),
        _ => Err(BadHead::InvalidHost),
    }
}

/// The bytes of `request`'s head as the client sent it: the request line and each header line.
fn size<B>(request: &Request<B>) -> usize {
    let uri = request.uri();
    let target = uri.scheme_str().map_or(0, |scheme| scheme.len() + "://".len())
        + uri.authority().map_or(0, |authority| authority.as_str().len())
        + uri.path_and_query().map_or(0, |path| path.as_str().len());
    let line = request.method().as_str().len() + target + "  HTTP/1.1\r\n".len();
    let fields: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    line + fields + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, uri: &str, hosts: &[&str]) -> Request<()> {
        let mut request = Request::builder().version(version).uri(uri);
        for host in hosts {
            request = request.header(header::HOST, *host);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn a_head_names_one_host() {
        let one = |uri, hosts: &[&str]| host(&request(Version::HTTP_11, uri, hosts)).map(|h| h.map(str::to_owned));
        assert_eq!(one("/kita", &["bremen.localhost:8080"]), Ok(Some("bremen.localhost:8080".into())));
        assert_eq!(one("/kita", &["a.localhost", "b.localhost"]), Err(BadHead::TwoHosts));
        assert_eq!(one("/kita", &[]), Err(BadHead::NoHost));
        assert_eq!(one("/kita", &["a b"]), Err(BadHead::InvalidHost));
        assert_eq!(one("/kita", &["user@a.localhost"]), Err(BadHead::InvalidHost));
        assert_eq!(one("/kita", &[""]), Err(BadHead::InvalidHost));
        // The absolute form's authority routes; Host is ignored.
        assert_eq!(one("http://b.localhost/kita", &["a.localhost"]), Ok(Some("b.localhost".into())));
        assert_eq!(host(&request(Version::HTTP_10, "/kita", &[])), Ok(None));
        let big = "x".repeat(MAX_HEAD_BYTES);
        let mut large = request(Version::HTTP_11, "/kita", &["a.localhost"]);
        large.headers_mut().insert("x-big", big.parse().unwrap());
        assert_eq!(host(&large), Err(BadHead::TooLarge));
    }
}
