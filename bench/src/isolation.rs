//! Scenario 5: a healthy component's throughput while a neighbour on the same host loops forever
//! on every request (each loop cut off by its 1 s deadline), against its throughput alone.

use crate::load::measure;
use crate::{Options, start_civic};
use std::process::{Command, Stdio};

const CONNECTIONS: u32 = 32;
/// Connections that keep the looping neighbour busy.
const LOOPERS: u32 = 8;

pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("bench.toml");
    std::fs::write(
        &manifest,
        format!(
            "manifest_version = 1\n[city]\nid = \"bench\"\nname = \"Bench\"\n\
             [components.hello]\nsource = {:?}\n{}\n\
             [components.faulty]\nsource = {:?}\nlimits = {{ timeout = \"1s\" }}\n\
             [[routes]]\npath = \"/hello\"\ncomponent = \"hello\"\n\
             [[routes]]\npath = \"/faulty\"\ncomponent = \"faulty\"\n",
            options.plugin("hello_city").display().to_string(),
            crate::http::HELLO_CONFIG,
            options.guest("faulty").display().to_string(),
        ),
    )?;
    let civic = start_civic(options, dir.path(), &[manifest])?;
    let healthy = format!("http://{}/hello", civic.addr);
    let shape = options.shape(CONNECTIONS);
    let alone = measure(&healthy, &shape)?;

    // The neighbour's load runs through the whole second measurement, warm-up included.
    let seconds = 2 + options.seconds * options.runs as u64 + 5;
    let mut looping = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", "--timeout", "5s"])
        .arg(format!("-c{LOOPERS}"))
        .arg(format!("-d{seconds}s"))
        .arg(format!("http://{}/faulty/loop", civic.addr))
        .stdout(Stdio::null())
        .spawn()?;
    let beside = measure(&healthy, &shape);
    let _ = looping.kill();
    let _ = looping.wait();
    let beside = beside?;

    println!("## A healthy component beside one that loops ({LOOPERS} connections looping until their 1 s deadline)\n");
    println!("| healthy component | requests/s | p50 | p99 | errors |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    crate::http::row("alone", &alone);
    crate::http::row("beside the looping one", &beside);
    println!("\nbeside / alone = {:.2}\n", beside.rps / alone.rps);
    Ok(())
}
