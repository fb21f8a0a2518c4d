//! The cluster's database restarted under two hosts, through the real binary: a swap while it is
//! down is refused with a clear 503 and changes nothing; once it is back, the hosts listen again
//! and a swap reaches every host. Its own test binary: it stops the server.

use civic_tests::postgres::Postgres;
use civic_tests::{City, Civic, HELLO_CITY, PLAIN_PROXY, Workspace, client, get};
use serde_json::Value;
use std::time::Duration;

const TOKEN: &str = "cluster-t0ken-xxxxxxxxxxxxxxxxxx";

async fn swap(host: &Civic) -> (u16, Value) {
    let url = format!("http://{}/v1/cities/lecce/components/hello", host.admin_addr().await);
    let response = client().put(url).bearer_auth(TOKEN).body(std::fs::read(PLAIN_PROXY).unwrap()).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_while_postgres_is_down_is_refused_and_one_after_it_is_back_reaches_every_host() {
    let server = Postgres::shared();
    let db = server.database();
    let ws = Workspace::new();
    let manifest = City::new("lecce")
        .component("hello", HELLO_CITY, r#"config = { city_name = "Lecce", greeting = "Ciao" }"#)
        .route("/hello", "hello")
        .write(&ws);
    let extra = ["--state-timeout", "1s"];
    let (a, b) = (
        Civic::run_clustered(&db, &[&manifest], TOKEN, &extra),
        Civic::run_clustered(&db, &[&manifest], TOKEN, &extra),
    );

    server.stop();
    let (status, refusal) = swap(&a).await;
    assert_eq!((status, refusal["kind"].as_str()), (503, Some("unavailable")), "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains("nothing changed"), "{refusal}");
    for host in [&a, &b] {
        assert_eq!(get(&host.url("/hello"), None).await, (200, "Ciao from Lecce!\n".into()), "nothing changed");
    }

    let mark = b.log_lines();
    server.start_again();
    b.wait_for_log_after(mark, &["listening for the cluster's changes"], Duration::from_secs(30)).await;
    let mark = b.log_lines();
    let (status, answer) = swap(&a).await;
    assert_eq!((status, answer["version"].as_u64()), (200, Some(2)), "{answer}");
    // Heard, not found by the periodic read (every 10 s): within the two seconds a change may take.
    let needles = ["serving the cluster's version", "version=2 "];
    b.wait_for_log_after(mark, &needles, Duration::from_secs(2)).await;
    assert_eq!(get(&b.url("/hello"), None).await.0, 203);
}
