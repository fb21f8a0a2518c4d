//! The native baseline: a hyper server doing what `plugins/hello-city` does — look the city's
//! name and greeting up in its configuration, answer `GREETING from CITY!` as plain text, 405 for
//! anything but GET — with no WebAssembly in between.
//!
//! `native-hello ADDR`; prints `listening on http://ADDR` like `civic run`.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

fn greet(config: &HashMap<&str, &str>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        let mut response = Response::new(Full::new(Bytes::from_static(b"only GET is served here\n")));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    let city = config.get("city_name").copied().unwrap_or("this city");
    let greeting = config.get("greeting").copied().unwrap_or("Hello");
    let mut response = Response::new(Full::new(Bytes::from(format!("{greeting} from {city}!\n"))));
    response.headers_mut().insert(header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().expect("a valid value"));
    response
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    let config: Arc<HashMap<&str, &str>> = Arc::new([("city_name", "Bench"), ("greeting", "Moin")].into());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let config = config.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let config = config.clone();
                async move { Ok::<_, Infallible>(greet(&config, &request)) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
