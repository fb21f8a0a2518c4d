//! Scenario 3: the shared-service centre — 1, 100 and 1000 city manifests, each running seven
//! components drawn from the same few files. Start-up is measured from spawn to the `listening on`
//! line, first with an empty compile cache, then again with the cache warm; memory is the host's
//! resident set once it listens.

use crate::{Options, start_civic};
use std::path::PathBuf;

const COMPONENTS_PER_CITY: usize = 7;

pub fn run(options: &Options) -> anyhow::Result<()> {
    let files = [
        options.plugin("hello_city"),
        options.guest("keyvalue"),
        options.guest("plain_proxy"),
        options.guest("faulty"),
    ];
    println!("## Many cities, shared components ({COMPONENTS_PER_CITY} per city from {} files)\n", files.len());
    println!("| cities | start-up, cold cache | start-up, warm cache | RSS |");
    println!("| ---: | ---: | ---: | ---: |");
    for count in [1, 100, 1000] {
        let dir = tempfile::tempdir()?;
        let manifests = write_cities(dir.path(), count, &files)?;
        let cold = start_civic(options, dir.path(), &manifests)?;
        let cold_startup = cold.startup;
        drop(cold);
        let warm = start_civic(options, dir.path(), &manifests)?;
        let rss = warm.rss_bytes()?;
        println!(
            "| {count} | {:.2} s | {:.2} s | {} MiB |",
            cold_startup.as_secs_f64(),
            warm.startup.as_secs_f64(),
            rss / (1024 * 1024)
        );
    }
    println!();
    Ok(())
}

fn write_cities(dir: &std::path::Path, count: usize, files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    (0..count)
        .map(|i| {
            let mut text = format!(
                "manifest_version = 1\n[city]\nid = \"city-{i}\"\nname = \"City {i}\"\nhosts = [\"city-{i}.localhost\"]\n"
            );
            for c in 0..COMPONENTS_PER_CITY {
                let file = &files[c % files.len()];
                text += &format!(
                    "[components.service-{c}]\nsource = {:?}\nconfig = {{ city_name = \"City {i}\" }}\nkeyvalue = [\"b\"]\n\
                     [[routes]]\npath = \"/s{c}\"\ncomponent = \"service-{c}\"\n",
                    file.display().to_string()
                );
            }
            let path = dir.join(format!("city-{i}.toml"));
            std::fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}
