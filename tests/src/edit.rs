//! Components edited at the byte level, for tests and benchmarks: sections appended to a
//! component are valid wherever they are, so no re-encoding is needed.

/// `component` with a custom section `name` holding `data` appended: other bytes, the same
/// behaviour (a new version to swap in).
pub fn with_custom_section(component: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = leb(u32::try_from(name.len()).expect("a short name"));
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut bytes = component.to_vec();
    bytes.extend(section(0, &payload));
    bytes
}

/// As wide as the components of toolchains that link many core modules into one
/// (componentize-py links a dozen and more): `component` with `count` more core instances at its top level, each of a module that defines
/// a memory and a table: every instance of it takes that many more from the host's pool.
pub fn widened(component: &[u8], count: u32) -> Vec<u8> {
    let module = wat::parse_str("(module (memory 1) (table 1 funcref))").expect("the module is valid");
    // Appended sections index after every core module the component already has.
    let index = top_level_modules(component);
    let mut instances = leb(count);
    for _ in 0..count {
        instances.push(0x00); // instantiate
        instances.extend(leb(index));
        instances.extend(leb(0)); // with no arguments
    }
    let mut wide = component.to_vec();
    wide.extend(section(1, &module)); // a core module section
    wide.extend(section(2, &instances)); // a core instance section
    wide
}

/// The core modules a component defines at its top level.
fn top_level_modules(component: &[u8]) -> u32 {
    let (mut depth, mut modules) = (0u32, 0u32);
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.expect("a valid component") {
            wasmparser::Payload::ModuleSection { .. } => {
                modules += u32::from(depth == 0);
                depth += 1;
            }
            wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    modules
}

fn section(id: u8, content: &[u8]) -> Vec<u8> {
    let mut bytes = vec![id];
    bytes.extend(leb(u32::try_from(content.len()).expect("a small section")));
    bytes.extend(content);
    bytes
}

fn leb(mut n: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}
