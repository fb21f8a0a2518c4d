//! PostgreSQL going away under a host, through the real binary: while the server is frozen or
//! stopped, requests answer 503 with `Retry-After` within the state timeout (never a 500, never a
//! hang), readiness turns 503, the log says so once; when the server is back, the host recovers by
//! itself and everything it acknowledged is there. Its own test binary: it stops the server.

use civic_tests::postgres::Postgres;
use civic_tests::{City, Civic, KEYVALUE, Workspace, client, get};
use std::time::{Duration, Instant};

/// The host's `--state-timeout`.
const STATE_TIMEOUT: Duration = Duration::from_secs(1);

/// 20 requests at once that each need the store; each must answer 503 within the state timeout.
async fn all_answer_503_in_time(civic: &Civic) {
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let request = match i % 3 {
                0 => client().put(civic.url(&format!("/kv/b/during-{i}"))).body("lost"),
                1 => client().get(civic.url("/kv/b/before-1")),
                _ => client().post(civic.url("/kv/b/counter/increment")),
            };
            tokio::spawn(async move {
                let started = Instant::now();
                let response = request.send().await.unwrap();
                let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
                let (retry, kind) = (header("retry-after"), header("content-type"));
                (response.status().as_u16(), retry, kind, started.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (status, retry, kind, took) = call.await.unwrap();
        assert_eq!(status, 503);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(kind.as_deref(), Some("application/problem+json"));
        assert!(took < STATE_TIMEOUT + Duration::from_secs(2), "a request took {took:?}");
    }
}

async fn ready(civic: &Civic) -> (u16, String) {
    get(&civic.url("/.well-known/civic/ready"), None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn while_postgres_is_away_requests_answer_503_and_the_host_recovers_by_itself() {
    let server = Postgres::shared();
    let ws = Workspace::new();
    let manifest =
        City::new("lecce").component("store", KEYVALUE, r#"keyvalue = ["b"]"#).route("/kv", "store").write(&ws);
    let civic = Civic::run_on(&server.database(), &[&manifest], &["--state-timeout", "1s"]);
    for i in 0..20 {
        let response = client().put(civic.url(&format!("/kv/b/before-{i}"))).body(format!("{i}")).send().await;
        assert_eq!(response.unwrap().status(), 204);
    }
    assert_eq!(ready(&civic).await, (200, "ready\n".into()));

    // Silent: connections open, nothing answers.
    server.freeze();
    all_answer_503_in_time(&civic).await;
    let (status, reason) = ready(&civic).await;
    assert_eq!(status, 503);
    assert!(reason.starts_with("not ready: the state store is unreachable"), "{reason}");
    assert_eq!(get(&civic.url("/.well-known/civic/health"), None).await, (200, "ok\n".into()), "alive all along");
    server.thaw();
    assert_eq!(ready(&civic).await, (200, "ready\n".into()), "back as soon as the server answers");

    // Gone: connections refused.
    server.stop();
    all_answer_503_in_time(&civic).await;
    assert_eq!(ready(&civic).await.0, 503);

    server.start_again();
    assert_eq!(ready(&civic).await, (200, "ready\n".into()), "back without a restart");
    for i in 0..20 {
        assert_eq!(get(&civic.url(&format!("/kv/b/before-{i}")), None).await, (200, format!("{i}")), "key {i}");
    }
    let response = client().put(civic.url("/kv/b/after")).body("written").send().await.unwrap();
    assert_eq!(response.status(), 204);
    let log = civic.log();
    // Once per outage, not once per failed call; a server in its fast shutdown may still answer
    // one call between two refusals, which is a flap of its own.
    let (lost, back) = (
        log.matches("the state store is unreachable").count(),
        log.matches("the state store is reachable again").count(),
    );
    assert!((2..=3).contains(&lost), "said once per outage:\n{log}");
    assert_eq!(back, lost, "{log}");
}
