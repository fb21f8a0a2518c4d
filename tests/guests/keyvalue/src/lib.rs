//! The store over HTTP, one call per request:
//!
//! | request | call |
//! | --- | --- |
//! | `GET /kv/BUCKET/KEY` | `get` (404 when absent) |
//! | `PUT /kv/BUCKET/KEY` with the value as body | `set` |
//! | `DELETE /kv/BUCKET/KEY` | `delete` |
//! | `GET /kv/BUCKET` | every key, as a JSON array |
//! | `POST /kv/BUCKET/KEY/increment?by=N` | `increment`, answering the new value |
//! | `POST /kv/BUCKET` with a JSON object of strings | `set-many` |
//!
//! A key-value error answers 403 (access denied), what the SDK makes of it when the store is
//! unavailable (503 with `Retry-After`), or 500, with the error as the body.

use civic_sdk::kv::{Bucket, Error};
use civic_sdk::{IntoResponse as _, Method, Problem, Request, Response};

civic_sdk::service!(handle);

fn handle(request: Request) -> Response {
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').skip(1).collect();
    let result = match (request.method().clone(), segments.as_slice()) {
        (Method::GET, [bucket]) => open(bucket).and_then(|b| b.keys()).map(|keys| json(&keys)),
        (Method::POST, [bucket]) => set_many(bucket, request.body()),
        (Method::GET, [bucket, key]) => open(bucket).and_then(|b| b.get(key)).map(|value| match value {
            Some(value) => Response::new(200).body(value),
            None => Response::new(404),
        }),
        (Method::PUT, [bucket, key]) => {
            open(bucket).and_then(|b| b.set(key, request.body())).map(|()| Response::new(204))
        }
        (Method::DELETE, [bucket, key]) => open(bucket).and_then(|b| b.delete(key)).map(|()| Response::new(204)),
        (Method::POST, [bucket, key, "increment"]) => {
            let by = request.query_param("by").and_then(|by| by.parse().ok()).unwrap_or(1);
            open(bucket).and_then(|b| b.increment(key, by)).map(|n| Response::text(200, n.to_string()))
        }
        _ => return Response::text(404, "no such call"),
    };
    result.unwrap_or_else(|error| match error {
        Error::AccessDenied => Response::text(403, "access-denied"),
        unavailable @ Error::Unavailable(_) => Problem::from(unavailable).into_response(),
        other => Response::text(500, other.to_string()),
    })
}

fn open(bucket: &str) -> Result<Bucket, Error> {
    Bucket::open(bucket)
}

fn set_many(bucket: &str, body: &[u8]) -> Result<Response, Error> {
    let Ok(entries) = serde_json::from_slice::<std::collections::BTreeMap<String, String>>(body) else {
        return Ok(Response::text(400, "expected a JSON object of strings"));
    };
    let entries: Vec<_> = entries.into_iter().map(|(key, value)| (key, value.into_bytes())).collect();
    open(bucket)?.set_many(&entries)?;
    Ok(Response::new(204))
}

fn json(keys: &[String]) -> Response {
    Response::new(200).header("content-type", "application/json").body(serde_json::to_vec(keys).unwrap_or_default())
}
