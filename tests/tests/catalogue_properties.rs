//! Property test of the whole catalogue through the real binary: random methods, paths and
//! bodies (random JSON built from the plugins' own field names, or random bytes) at every route
//! of every plugin. A plugin may refuse (4xx) but never fail (5xx): no input makes one trap.
//!
//! Every plugin of `plugins/` must have an entry below, or this file does not compile.

use civic_tests::{City, Civic, Workspace, raw_http};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;

/// Per plugin: its manifest entry and its routes (method, pattern below the mount; `:` is a
/// parameter).
mod entries {
    pub struct Entry {
        pub manifest: &'static str,
        pub routes: &'static [(&'static str, &'static str)],
    }

    pub mod hello_city {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"config = { city_name = "Lecce", greeting = "Ciao" }"#,
            routes: &[("GET", "/")],
        };
    }

    pub mod kindergarten {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"keyvalue = ["applications"]
config = { facilities = [{ id = "a", name = "Kita A", places = 3 }, { id = "b", name = "Kita B", places = 1 }] }"#,
            routes: &[
                ("GET", "/facilities"),
                ("POST", "/applications"),
                ("GET", "/applications/:"),
                ("DELETE", "/applications/:"),
            ],
        };
    }

    pub mod local_tax {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"[components.local-tax.config.rates]
dog_tax = { first_dog_cents = 15000, further_dog_cents = 21000, dangerous_dog_cents = 72000, exempt_purposes = ["guide"] }
second_home_tax = { percent_of_rent = 12, exempt_reasons = ["student"] }"#,
            routes: &[("GET", "/rates"), ("POST", "/assessments/dog-tax"), ("POST", "/assessments/second-home-tax")],
        };
    }

    pub mod license_plate {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"keyvalue = ["plates"]
config = { districts = ["BHV", "HB"] }"#,
            routes: &[
                ("GET", "/plates/:"),
                ("POST", "/reservations"),
                ("GET", "/reservations/:"),
                ("DELETE", "/reservations/:"),
            ],
        };
    }

    pub mod residency {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"keyvalue = ["registrations"]
config = { city_name = "Lecce", postal_codes = ["73100"] }"#,
            routes: &[("POST", "/registrations"), ("GET", "/registrations/:")],
        };
    }

    pub mod census_certificate {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"keyvalue = ["certificates"]
config = { issuer = "Lecce", signing_key = "1111111111111111111111111111111111111111111111111111111111111111" }"#,
            routes: &[("GET", "/public-key"), ("POST", "/certificates"), ("POST", "/verifications")],
        };
    }

    pub mod household_fees {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"config = { waste_base_cents = 6200, waste_per_member_cents = 1800, dog_cents = 3000, exempt_purposes = ["guide"] }"#,
            routes: &[("GET", "/fees"), ("POST", "/assessments")],
        };
    }

    /// Linked to the other plugins of the test city, by their plugin names.
    pub mod relocation {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"[components.relocation.links]
"civic:registry/registration@1" = "residency"
"civic:education/enrollment@1" = "kindergarten"
"civic:tax/assessment@1" = "local-tax"
"civic:documents/certificates@1" = "census-certificate""#,
            routes: &[("POST", "/moves")],
        };
    }

    /// The registry it calls is a closed port: good input gets 502, which the test allows for
    /// this plugin alone; bad input must still be a 4xx.
    pub mod id_status {
        pub const ENTRY: super::Entry = super::Entry {
            manifest: r#"outbound = ["http://127.0.0.1:9"]
config = { registry_url = "http://127.0.0.1:9", timeout_ms = 200 }"#,
            routes: &[("GET", "/documents/:")],
        };
    }
}

/// The field names the plugins read, so random JSON reaches past the first check.
const FIELDS: &[&str] = &[
    "child_name",
    "birth_date",
    "guardian",
    "choices",
    "dogs",
    "name",
    "dangerous",
    "purpose",
    "low_income",
    "annual_rent_cents",
    "exempt_reason",
    "plate",
    "holder",
    "persons",
    "given_name",
    "family_name",
    "address",
    "street",
    "house_number",
    "postal_code",
    "moved_in",
    "previous_address",
    "resident_since",
    "certificate",
    "signature",
    "kind",
    "serial",
    "issuer",
    "issued_on",
    "members",
    "kindergarten",
    "second_home_annual_rent_cents",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from),
        prop_oneof![
            Just("2022-03-14".to_owned()),
            Just("BHV-AB 123".to_owned()),
            Just("a".to_owned()),
            Just("73100".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6)
                .prop_map(|pairs| { Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) }),
        ]
    })
}

/// A path for `pattern`, its `:` segments filled with `value` (percent-encoded).
fn path_for(pattern: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    pattern
        .split('/')
        .map(|segment| if segment == ":" { encoded.as_str() } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn no_input_makes_a_plugin_fail() {
    let mut plugins: Vec<(String, &entries::Entry)> = Vec::new();
    macro_rules! plugin {
        ($name:ident) => {
            plugins.push((stringify!($name).replace('_', "-"), &entries::$name::ENTRY));
        };
    }
    civic_tests::foreach_plugin!(plugin);

    let ws = Workspace::new();
    let mut city = City::new("lecce");
    for (name, entry) in &plugins {
        let wasm = format!("{}/wasm32-wasip2/release/{}.wasm", civic_tests::WASM_TARGET_DIR, name.replace('-', "_"));
        city = city.component(name, &wasm, entry.manifest).route(&format!("/{name}"), name);
    }
    let civic = Civic::run(&[&city.write(&ws)]);

    let route = (0..plugins.len()).prop_flat_map(|p| (Just(p), 0..plugins[p].1.routes.len()));
    let body = prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    let method = prop_oneof![4 => Just(None), 1 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]).prop_map(Some)];
    let param = prop_oneof![Just("K-1".to_owned()), Just("R-1".to_owned()), Just("BHV-AB-1".to_owned()), "\\PC{0,16}"];
    let config = ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() };
    let outcome = TestRunner::new(config).run(&(route, method, param, body), |((p, r), method, param, body)| {
        let (name, entry) = &plugins[p];
        let (route_method, pattern) = entry.routes[r];
        let method = method.unwrap_or(route_method);
        let path = format!("/{name}{}", path_for(pattern, &param));
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: lecce\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let answer = raw_http(civic.addr(), &request);
        let status: u16 = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let allowed = (200..500).contains(&status) || (name == "id-status" && status == 502);
        prop_assert!(allowed, "{} {} with {:?} → {}", method, path, String::from_utf8_lossy(&body), answer);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    assert!(!civic.log().contains("component failed"), "a plugin trapped:\n{}", civic.log());
}
