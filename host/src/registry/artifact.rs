//! The CNCF "Wasm OCI Artifact" layout, as wkg and wash write it: an image manifest whose config
//! (`application/vnd.wasm.config.v0+json`) says what the component imports and exports, one
//! `application/wasm` layer with the component, and `org.opencontainers.image.*` annotations —
//! taken from the component's own metadata sections (the `wasm-metadata` format) where it has
//! them, then from the publisher's `--annotation`s. Older single-layer artifacts that Spin and
//! wash pushed are read too.

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;
use wit_component::DecodedWasm;
use wit_parser::{WorldItem, WorldKey};

pub const CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER: &str = "application/wasm";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Layers of Wasm that earlier tools pushed.
pub const OLDER_LAYERS: [&str; 2] =
    ["application/vnd.wasm.content.layer.v1+wasm", "application/vnd.module.wasm.content.layer.v1+wasm"];

pub const TITLE: &str = "org.opencontainers.image.title";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const LICENSES: &str = "org.opencontainers.image.licenses";
pub const VENDOR: &str = "org.opencontainers.image.vendor";
pub const SOURCE: &str = "org.opencontainers.image.source";
pub const CREATED: &str = "org.opencontainers.image.created";
const AUTHORS: &str = "org.opencontainers.image.authors";

/// The config of a Wasm artifact.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub layer_digests: Vec<String>,
    #[serde(default)]
    pub component: Interfaces,
}

/// What a component imports and exports, by interface name with version.
#[derive(Default, Serialize, Deserialize)]
pub struct Interfaces {
    #[serde(default)]
    pub exports: Vec<String>,
    #[serde(default)]
    pub imports: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A component as it is published: its interfaces and its annotations.
pub struct Described {
    /// The name of the file it was published from.
    pub file_name: String,
    pub interfaces: Interfaces,
    pub annotations: BTreeMap<String, String>,
}

/// Reads what `bytes` (a component named `file_name`) imports and exports, and its metadata,
/// over which `extra` annotations go.
pub fn describe(bytes: &[u8], file_name: &str, extra: &BTreeMap<String, String>) -> anyhow::Result<Described> {
    let DecodedWasm::Component(resolve, world) = wit_component::decode(bytes)? else {
        anyhow::bail!("it holds WIT packages, not a component");
    };
    let world = &resolve.worlds[world];
    let interfaces = |items: &mut dyn Iterator<Item = (&WorldKey, &WorldItem)>| -> Vec<String> {
        let interfaces = items.filter(|(_, item)| matches!(item, WorldItem::Interface { .. }));
        interfaces.map(|(key, _)| resolve.name_world_key(key)).collect()
    };
    let (exports, imports) = (interfaces(&mut world.exports.iter()), interfaces(&mut world.imports.iter()));
    let target = exports
        .iter()
        .find_map(|e| e.strip_prefix("wasi:http/incoming-handler@"))
        .map(|version| format!("wasi:http/proxy@{version}"));
    let mut annotations = metadata(bytes);
    let title = annotations.remove(TITLE).unwrap_or_else(|| file_name.to_owned());
    annotations.insert(TITLE.to_owned(), title.trim_end_matches(".wasm").to_owned());
    annotations.insert(CREATED.to_owned(), humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
    annotations.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Described { file_name: file_name.to_owned(), interfaces: Interfaces { exports, imports, target }, annotations })
}

/// The component's `wasm-metadata` sections (its own, else its first module's), as OCI
/// annotations; the authors stand in for the vendor.
fn metadata(bytes: &[u8]) -> BTreeMap<String, String> {
    let Ok(payload) = wasm_metadata::Payload::from_binary(bytes) else { return BTreeMap::new() };
    let mut annotations = BTreeMap::new();
    let mut add = |metadata: &wasm_metadata::Metadata| {
        let fields = [
            (TITLE, metadata.name.clone()),
            (DESCRIPTION, metadata.description.as_ref().map(ToString::to_string)),
            (VERSION, metadata.version.as_ref().map(ToString::to_string)),
            (LICENSES, metadata.licenses.as_ref().map(ToString::to_string)),
            (AUTHORS, metadata.authors.as_ref().map(ToString::to_string)),
            (VENDOR, metadata.authors.as_ref().map(ToString::to_string)),
            (SOURCE, metadata.source.as_ref().map(ToString::to_string)),
        ];
        for (key, value) in fields {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                annotations.entry(key.to_owned()).or_insert(value);
            }
        }
    };
    add(payload.metadata());
    if let wasm_metadata::Payload::Component { children, .. } = &payload {
        children.iter().for_each(|child| add(child.metadata()));
    }
    annotations
}

/// The config and the manifest that publish `layer` (the component's bytes, with `digest`).
pub fn manifest(described: &Described, layer_digest: &str, layer_size: usize) -> (Vec<u8>, OciImageManifest) {
    let config = Config {
        created: described.annotations.get(CREATED).cloned(),
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![layer_digest.to_owned()],
        component: Interfaces {
            exports: described.interfaces.exports.clone(),
            imports: described.interfaces.imports.clone(),
            target: described.interfaces.target.clone(),
        },
    };
    let config =
        serde_json::to_vec(&config).expect("a config is strings and lists of strings, which JSON always holds");
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST.into()),
        config: OciDescriptor {
            media_type: CONFIG.into(),
            digest: crate::manifest::Digest::of(&config).oci(),
            size: config.len() as i64,
            ..Default::default()
        },
        layers: vec![OciDescriptor {
            media_type: LAYER.into(),
            digest: layer_digest.to_owned(),
            size: layer_size as i64,
            annotations: Some(BTreeMap::from([(TITLE.to_owned(), described.file_name.clone())])),
            ..Default::default()
        }],
        artifact_type: None,
        subject: None,
        annotations: Some(described.annotations.clone()),
    };
    (config, manifest)
}
