//! Property tests of the HTTP front through the real binary: whatever bytes a client sends, the
//! host answers with a well-formed 2xx/4xx (or closes the connection), never a 5xx, never
//! crashes, and keeps serving.

use civic_tests::{City, Civic, HELLO_CITY, KEYVALUE, Workspace, raw_http};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

/// A request that is well-formed HTTP/1.1 in shape, with arbitrary parts.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("PUT".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{1,8}"
    ];
    let path = prop_oneof![
        "/[a-zA-Z0-9/%?=&._~-]{0,40}",
        "/kv/b/[a-z0-9%]{1,20}",
        "/kv/[a-z0-9.-]{1,20}/[a-z0-9]{1,10}",
        "/kv/b",
    ];
    let headers = prop::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,15}", "[ -~]{0,40}"), 0..6);
    let body = prop::collection::vec(any::<u8>(), 0..512);
    // How the declared length relates to the body: right, missing, or a few bytes off.
    let declared = prop_oneof![4 => Just(0i64), 1 => -4i64..4];
    (method, path, headers, body, declared).prop_map(|(method, path, headers, body, off)| {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: lecce\r\nconnection: close\r\n");
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        let length = (body.len() as i64 + off).max(0);
        head += &format!("content-length: {length}\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    })
}

fn answer_is_sound(answer: &str) -> Result<(), TestCaseError> {
    if answer.is_empty() {
        return Ok(());
    }
    let status: u16 = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| TestCaseError::fail(format!("not an HTTP answer: {answer:?}")))?;
    prop_assert!((200..500).contains(&status), "a client's bytes caused a {}: {}", status, answer);
    Ok(())
}

#[test]
fn any_request_gets_a_sound_answer_and_the_host_keeps_serving() {
    // One host for every case: hello-city at `/`, the key-value guest at `/kv`, short deadlines
    // so a request that never completes costs a second, not thirty.
    let ws = Workspace::new();
    let city = City::new("lecce")
        .component(
            "hello",
            HELLO_CITY,
            "config = { city_name = \"Lecce\", greeting = \"Ciao\" }\nlimits = { timeout = \"1s\" }",
        )
        .component("store", KEYVALUE, "keyvalue = [\"b\"]\nlimits = { timeout = \"1s\", max_body = \"4KiB\" }")
        .route("/", "hello")
        .route("/kv", "store");
    let data = ws.path().join("data");
    let civic = Civic::run_in(&data, &[&city.write(&ws)], &["--header-timeout", "1s"]);

    let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    let bytes = prop_oneof![4 => request(), 1 => prop::collection::vec(any::<u8>(), 0..300)];
    let outcome = TestRunner::new(config).run(&bytes, |bytes| {
        answer_is_sound(&raw_http(civic.addr(), &bytes))?;
        let alive = raw_http(civic.addr(), b"GET /?name=x HTTP/1.1\r\nhost: lecce\r\nconnection: close\r\n\r\n");
        prop_assert!(alive.starts_with("HTTP/1.1 200"), "the host stopped serving: {}", alive);
        prop_assert!(!civic.log().contains("panicked"), "the host panicked");
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
