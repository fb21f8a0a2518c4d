//! One request's data never reaches the next: a secret a request leaves in its heap, its stack and
//! a global is not in the memory of the next instance in the same pool slot, whether the slot's
//! pages are reset by copy (kept resident) or returned to the kernel.

use civic_tests::{City, Civic, LEFTOVERS, Workspace, get};

/// Rounds of write-then-read per configuration.
const ROUNDS: usize = 20;

#[tokio::test]
async fn a_secret_left_in_heap_stack_and_globals_is_gone_for_the_next_request() {
    let ws = Workspace::new();
    // One instance at a time, so every request lands in the slot the previous one left.
    let manifest = City::new("lecce")
        .component("leftovers", LEFTOVERS, "limits = { max_concurrency = 1 }")
        .route("/leftovers", "leftovers")
        .write(&ws);
    // The default, nothing kept resident (every page decommitted), and more than the whole memory.
    for keep_resident in [None, Some("0"), Some("64MiB")] {
        let data = tempfile::tempdir().unwrap();
        let extra: Vec<&str> = keep_resident.iter().flat_map(|size| ["--keep-resident", size]).collect();
        let civic = Civic::run_in(data.path(), &[&manifest], &extra);
        for round in 0..ROUNDS {
            let nonce = format!("{:016x}{round:04}", std::process::id() as u64 ^ 0x5ec2_e700_0000_0000);
            let (status, wrote) = get(&civic.url(&format!("/leftovers/write?{nonce}")), None).await;
            assert_eq!(status, 200, "{wrote}");
            // The search sees what the writing instance left, in all three places.
            let counts: Vec<usize> =
                wrote.split_whitespace().map(|pair| pair.split_once('=').unwrap().1.parse().unwrap()).collect();
            assert!(counts.len() == 3 && counts.iter().all(|&n| n > 0), "{keep_resident:?}: the writer saw {wrote}");
            let (status, read) = get(&civic.url(&format!("/leftovers/read?{nonce}")), None).await;
            assert_eq!(status, 200, "{read}");
            assert_eq!(read, "heap=0 stack=0 global=0\n", "{keep_resident:?}, round {round}: a secret survived");
        }
    }
}
