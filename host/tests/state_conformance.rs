//! The behaviour every state backend must have, run against each of them: in memory, SQLite, and
//! a real PostgreSQL server started for this test binary.

use civic_host::state::memory::MemoryBackend;
use civic_host::state::postgres::PostgresBackend;
use civic_host::state::sqlite::SqliteBackend;
use civic_host::state::{Backend, Namespace, Write};
use civic_tests::postgres::Postgres;
use std::sync::Arc;
use std::time::Duration;

fn ns(city: &str, component: &str, bucket: &str) -> Namespace {
    Namespace {
        city: city.to_owned().try_into().unwrap(),
        component: component.to_owned().try_into().unwrap(),
        bucket: bucket.to_owned(),
    }
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| (*k).to_owned()).collect()
}

async fn conforms(backend: Arc<dyn Backend>) {
    let a = ns("lecce", "kita", "applications");

    backend
        .write(&a, vec![Write::Set("x".into(), b"1".to_vec()), Write::Set("y".into(), b"2".to_vec())])
        .await
        .unwrap();
    assert_eq!(
        backend.get_many(&a, &keys(&["x", "y", "z"])).await.unwrap(),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec()), None]
    );

    // Namespaces are separate in each of their three parts.
    for other in
        [ns("santander", "kita", "applications"), ns("lecce", "tax", "applications"), ns("lecce", "kita", "other")]
    {
        assert_eq!(backend.get_many(&other, &keys(&["x"])).await.unwrap(), vec![None], "{other}");
        assert!(backend.list_keys(&other, 0, 10).await.unwrap().is_empty());
    }

    backend.write(&a, vec![Write::Delete("x".into()), Write::Delete("absent".into())]).await.unwrap();
    assert_eq!(backend.get_many(&a, &keys(&["x"])).await.unwrap(), vec![None]);

    // A batch applies in order: the last write to a key wins.
    let batch = vec![
        Write::Set("b1".into(), b"first".to_vec()),
        Write::Set("b1".into(), b"second".to_vec()),
        Write::Set("b2".into(), b"gone".to_vec()),
        Write::Delete("b2".into()),
    ];
    backend.write(&a, batch).await.unwrap();
    assert_eq!(backend.get_many(&a, &keys(&["b1", "b2"])).await.unwrap(), vec![Some(b"second".to_vec()), None]);
    backend.write(&a, vec![Write::Delete("b1".into())]).await.unwrap();

    // Counters start at zero, add exactly, refuse what is not a counter or would overflow.
    assert_eq!(backend.increment(&a, "n", 5).await.unwrap(), 5);
    assert_eq!(backend.increment(&a, "n", 2).await.unwrap(), 7);
    assert_eq!(backend.get_many(&a, &keys(&["n"])).await.unwrap(), vec![Some(b"7".to_vec())]);
    assert!(backend.increment(&a, "y", 1).await.is_ok(), "\"2\" is a counter");
    backend.write(&a, vec![Write::Set("text".into(), b"abc".to_vec())]).await.unwrap();
    assert!(backend.increment(&a, "text", 1).await.is_err());
    assert_eq!(backend.get_many(&a, &keys(&["text"])).await.unwrap(), vec![Some(b"abc".to_vec())], "left alone");
    backend.write(&a, vec![Write::Set("big".into(), u64::MAX.to_string().into_bytes())]).await.unwrap();
    assert!(backend.increment(&a, "big", 1).await.is_err());
    assert!(backend.increment(&a, "big", 0).await.is_ok());

    // Listing is in byte order (upper case before lower, UTF-8 after ASCII) and pages by offset.
    let all = backend.list_keys(&a, 0, 100).await.unwrap();
    assert_eq!(all, keys(&["big", "n", "text", "y"]));
    assert_eq!(backend.list_keys(&a, 1, 2).await.unwrap(), keys(&["n", "text"]));
    assert!(backend.list_keys(&a, 10, 2).await.unwrap().is_empty());
    let sorted = ns("lecce", "kita", "sorted");
    let written = ["é", "Z", "a", "\u{0}nul", "zz"];
    backend.write(&sorted, written.iter().map(|k| Write::Set((*k).into(), b"v".to_vec())).collect()).await.unwrap();
    assert_eq!(backend.list_keys(&sorted, 0, 10).await.unwrap(), keys(&["\u{0}nul", "Z", "a", "zz", "é"]));

    // Concurrent increments are exact and never hand out a number twice.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let counters = ns("lecce", "plates", "b");
                let mut seen = Vec::new();
                for _ in 0..25 {
                    seen.push(backend.increment(&counters, "next", 1).await.unwrap());
                }
                seen
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=500).collect::<Vec<u64>>());

    backend.ping().await.unwrap();
}

#[tokio::test]
async fn memory_conforms() {
    conforms(Arc::new(MemoryBackend::default())).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conforms(Arc::new(SqliteBackend::open(&dir.path().join("state.sqlite3")).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_conforms() {
    let server = Postgres::shared();
    let url = server.database().parse().unwrap();
    conforms(Arc::new(PostgresBackend::connect(&url, Duration::from_secs(5)).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_keeps_what_it_acknowledged_across_connections_and_migrates_once() {
    let server = Postgres::shared();
    let url = server.database().parse().unwrap();
    let a = ns("lecce", "kita", "applications");
    let first = PostgresBackend::connect(&url, Duration::from_secs(5)).await.unwrap();
    first.write(&a, vec![Write::Set("k".into(), b"v".to_vec())]).await.unwrap();
    drop(first);
    // A second host on the same database finds the schema made and the data there.
    let second = PostgresBackend::connect(&url, Duration::from_secs(5)).await.unwrap();
    assert_eq!(second.get_many(&a, &keys(&["k"])).await.unwrap(), vec![Some(b"v".to_vec())]);
}
