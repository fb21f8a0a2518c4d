//! Type checks of links: every contract a component imports is linked to a component of its city
//! that exports a semver-compatible version of it, function by function with the same signature.

use super::{Contracts, Interface};
use crate::manifest::{CityId, ComponentName, Contract, Diagnostic, Link, Location};
use std::collections::BTreeMap;
use wasmtime::component::types::{ComponentFunc, Type};

/// One component of a city as the link checks see it: its links and the contracts of the
/// version that serves (or is about to).
pub struct Linked<'a> {
    pub name: &'a ComponentName,
    pub links: &'a BTreeMap<Contract, Link>,
    pub contracts: &'a Contracts,
    /// Where the manifest declares it.
    pub at: &'a Location,
}

/// The problems with the links of every component of `city`.
pub fn check(city: &CityId, components: &[Linked<'_>]) -> Vec<Diagnostic> {
    let contracts: BTreeMap<_, _> = components.iter().map(|c| (c.name.clone(), c.contracts)).collect();
    components.iter().flat_map(|component| check_component(city, component, &contracts)).collect()
}

/// The problems with `spec`'s links in `city`, given what each component of the city exports
/// (`contracts`, by name, `spec`'s own among them).
fn check_component(
    city: &CityId,
    spec: &Linked<'_>,
    contracts: &BTreeMap<ComponentName, &Contracts>,
) -> Vec<Diagnostic> {
    let (caller, imports) = (spec.name, spec.contracts);
    let here = |message: String| format!("city `{city}`, component `{caller}`: {message}");
    let mut problems = Vec::new();
    for import in &imports.imports {
        let Some(contract) = import.contract.clone() else {
            let message = here(format!("imports `{}`, which has no version and cannot be linked", import.name));
            problems.push(Diagnostic::at(spec.at.clone(), message));
            continue;
        };
        for (function, import_fn) in &import.functions {
            if let Some(reason) = unlinkable(&import_fn.ty) {
                let message = here(format!("function `{function}` of `{}` {reason}", import.name));
                problems.push(Diagnostic::at(spec.at.clone(), message));
            }
        }
        let Some(link) = spec.links.get(&contract) else {
            let providers: Vec<_> = contracts
                .iter()
                .filter(|(name, c)| *name != caller && c.export(&contract).is_some())
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            let note = match providers.as_slice() {
                [] => "no component of this city exports it".to_owned(),
                _ => format!("{} of this city export it", providers.join(", ")),
            };
            let message = here(format!("nothing serves its import `{}`", import.name));
            problems.push(
                Diagnostic::at(spec.at.clone(), message)
                    .note(format!("link it: `links = {{ \"{contract}\" = \"COMPONENT\" }}`"))
                    .note(note),
            );
            continue;
        };
        let callee = &link.component;
        let Some(export) = contracts.get(callee).and_then(|c| exported(c, import)) else {
            let offered = contracts
                .get(callee)
                .map(|c| names(c.exports.iter().filter(|e| e.contract.is_some())))
                .unwrap_or_default();
            let message = here(format!("links `{contract}` to `{callee}`, which does not export `{}`", import.name));
            problems.push(Diagnostic::at(link.at.clone(), message).note(format!("`{callee}` exports {offered}")));
            continue;
        };
        if !compatible(&import.name, &export.name) {
            let message = here(format!(
                "imports `{}`, but `{callee}` exports `{}`, which is not semver-compatible with it",
                import.name, export.name
            ));
            problems.push(Diagnostic::at(link.at.clone(), message));
            continue;
        }
        for (function, wanted) in &import.functions {
            let at = format!("function `{function}` of `{}`", import.name);
            match export.functions.get(function) {
                None => problems.push(Diagnostic::at(
                    link.at.clone(),
                    here(format!("{at}: `{callee}` ({}) does not export it", export.name)),
                )),
                Some(offered) => {
                    if let Some(reason) = unlinkable(&offered.ty) {
                        let message = here(format!("{at}: in `{callee}` ({}), it {reason}", export.name));
                        problems.push(Diagnostic::at(link.at.clone(), message));
                    } else if let Some(d) = signature_difference(&wanted.ty, &offered.ty) {
                        let message = here(format!(
                            "{at} has another signature in `{callee}`: at {}, `{caller}` has {} and `{callee}` has {}",
                            d.path.join(", "),
                            d.wanted,
                            d.offered
                        ));
                        problems.push(Diagnostic::at(link.at.clone(), message));
                    }
                }
            }
        }
    }
    for (contract, link) in spec.links {
        if !imports.imports.iter().any(|i| i.contract.as_ref() == Some(contract)) {
            let message = here(format!("links `{contract}`, but does not import it"));
            let note = format!("it imports {}", names(&imports.imports));
            problems.push(Diagnostic::at(link.at.clone(), message).note(note));
        }
    }
    problems
}

/// The export of `contracts` with the same package and interface as `import`, whatever its version.
fn exported<'a>(contracts: &'a Contracts, import: &Interface) -> Option<&'a Interface> {
    fn unversioned(name: &str) -> &str {
        name.split_once('@').map_or(name, |(interface, _)| interface)
    }
    contracts.exports.iter().find(|e| unversioned(&e.name) == unversioned(&import.name))
}

fn names<'a>(interfaces: impl IntoIterator<Item = &'a Interface>) -> String {
    let names: Vec<_> = interfaces.into_iter().map(|i| format!("`{}`", i.name)).collect();
    if names.is_empty() { "nothing linkable".to_owned() } else { names.join(", ") }
}

/// Whether an export named `exported` serves an import named `imported`: the same interface, at
/// a version the import's accepts by semver's caret rule (`1.0.0` accepts `1.4.2`, not `2.0.0`
/// nor `0.9.0`).
pub fn compatible(imported: &str, exported: &str) -> bool {
    let split = |name: &str| name.split_once('@').map(|(i, v)| (i.to_owned(), v.to_owned()));
    let (Some((import, wanted)), Some((export, offered))) = (split(imported), split(exported)) else {
        return imported == exported;
    };
    let wanted = semver::VersionReq::parse(&format!("^{wanted}"));
    let offered = semver::Version::parse(&offered);
    import == export && matches!((wanted, offered), (Ok(wanted), Ok(offered)) if wanted.matches(&offered))
}

/// Whether a value of function type `ty` holds a resource (or a stream or future) anywhere.
/// Why a function cannot be called through a link, if it cannot: values cross by copy, and a
/// forwarded call is a plain call in the caller's instance and the callee's (a component of
/// WASI 0.3 imports and exports contracts like any other, as long as they are plain `func`s).
fn unlinkable(ty: &ComponentFunc) -> Option<&'static str> {
    if passes_resources(ty) {
        Some("passes a resource, which cannot be copied between components; contracts use records and variants only")
    } else if ty.async_() {
        Some("is an `async func`, and links carry only plain calls: declare it `func` in the contract")
    } else {
        None
    }
}

fn passes_resources(ty: &ComponentFunc) -> bool {
    fn holds(ty: &Type) -> bool {
        match ty {
            Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => true,
            Type::List(list) => holds(&list.ty()),
            Type::Option(option) => holds(&option.ty()),
            Type::Result(result) => result.ok().is_some_and(|t| holds(&t)) || result.err().is_some_and(|t| holds(&t)),
            Type::Record(record) => record.fields().any(|f| holds(&f.ty)),
            Type::Variant(variant) => variant.cases().any(|c| c.ty.is_some_and(|t| holds(&t))),
            Type::Tuple(tuple) => tuple.types().any(|t| holds(&t)),
            Type::Map(map) => holds(&map.key()) || holds(&map.value()),
            Type::FixedLengthList(list) => holds(&list.ty()),
            _ => false,
        }
    }
    ty.params().any(|(_, t)| holds(&t)) || ty.results().any(|t| holds(&t))
}

/// Where two signatures or types first differ: the path to the spot (`parameter `household``,
/// `field `members``), and what each side has there.
struct Difference {
    path: Vec<String>,
    wanted: String,
    offered: String,
}

impl Difference {
    fn new(wanted: impl Into<String>, offered: impl Into<String>) -> Self {
        Self { path: Vec::new(), wanted: wanted.into(), offered: offered.into() }
    }

    fn under(mut self, step: String) -> Self {
        self.path.insert(0, step);
        self
    }
}

fn signature_difference(wanted: &ComponentFunc, offered: &ComponentFunc) -> Option<Difference> {
    let (wanted_params, offered_params): (Vec<_>, Vec<_>) = (wanted.params().collect(), offered.params().collect());
    let param_names =
        |params: &[(&str, Type)]| format!("({})", params.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "));
    if param_names(&wanted_params) != param_names(&offered_params) {
        return Some(
            Difference::new(param_names(&wanted_params), param_names(&offered_params)).under("parameters".into()),
        );
    }
    for ((name, wanted), (_, offered)) in wanted_params.iter().zip(&offered_params) {
        if let Some(difference) = difference(wanted, offered) {
            return Some(difference.under(format!("parameter `{name}`")));
        }
    }
    let (wanted_results, offered_results): (Vec<_>, Vec<_>) = (wanted.results().collect(), offered.results().collect());
    let under_result = |d: Difference| d.under("result".into());
    match (wanted_results.as_slice(), offered_results.as_slice()) {
        ([], []) => None,
        ([wanted], [offered]) => difference(wanted, offered).map(under_result),
        (wanted, offered) => Some(under_result(Difference::new(
            format!("{} results", wanted.len()),
            format!("{} results", offered.len()),
        ))),
    }
}

/// Where types `a` and `b` first differ; `None` when they are the same.
fn difference(a: &Type, b: &Type) -> Option<Difference> {
    if a == b {
        return None;
    }
    let inside = |step: String, a: Option<Type>, b: Option<Type>| match (a, b) {
        (Some(a), Some(b)) => difference(&a, &b).map(|d| d.under(step)),
        (None, None) => None,
        (a, b) => Some(Difference::new(describe(a.as_ref()), describe(b.as_ref())).under(step)),
    };
    let listed = |kind: &str, names: Vec<&str>| format!("{kind} {{{}}}", names.join(", "));
    let differs = match (a, b) {
        (Type::Record(x), Type::Record(y)) => {
            let (x, y): (Vec<_>, Vec<_>) = (x.fields().collect(), y.fields().collect());
            let (x_names, y_names): (Vec<_>, Vec<_>) =
                (x.iter().map(|f| f.name).collect(), y.iter().map(|f| f.name).collect());
            if x_names != y_names {
                Some(Difference::new(listed("record", x_names), listed("record", y_names)))
            } else {
                x.iter()
                    .zip(&y)
                    .find_map(|(f, g)| inside(format!("field `{}`", f.name), Some(f.ty.clone()), Some(g.ty.clone())))
            }
        }
        (Type::Variant(x), Type::Variant(y)) => {
            let (x, y): (Vec<_>, Vec<_>) = (x.cases().collect(), y.cases().collect());
            let (x_names, y_names): (Vec<_>, Vec<_>) =
                (x.iter().map(|c| c.name).collect(), y.iter().map(|c| c.name).collect());
            if x_names != y_names {
                Some(Difference::new(listed("variant", x_names), listed("variant", y_names)))
            } else {
                x.iter().zip(&y).find_map(|(c, d)| inside(format!("case `{}`", c.name), c.ty.clone(), d.ty.clone()))
            }
        }
        (Type::Enum(x), Type::Enum(y)) => {
            Some(Difference::new(listed("enum", x.names().collect()), listed("enum", y.names().collect())))
        }
        (Type::Flags(x), Type::Flags(y)) => {
            Some(Difference::new(listed("flags", x.names().collect()), listed("flags", y.names().collect())))
        }
        (Type::List(x), Type::List(y)) => inside("list element".into(), Some(x.ty()), Some(y.ty())),
        (Type::Option(x), Type::Option(y)) => inside("option".into(), Some(x.ty()), Some(y.ty())),
        (Type::Result(x), Type::Result(y)) => {
            inside("ok".into(), x.ok(), y.ok()).or_else(|| inside("error".into(), x.err(), y.err()))
        }
        (Type::Tuple(x), Type::Tuple(y)) if x.types().len() == y.types().len() => x
            .types()
            .zip(y.types())
            .enumerate()
            .find_map(|(i, (a, b))| inside(format!("tuple element {i}"), Some(a), Some(b))),
        _ => None,
    };
    Some(differs.unwrap_or_else(|| Difference::new(describe(Some(a)), describe(Some(b)))))
}

/// A type's kind as WIT writes it.
fn describe(ty: Option<&Type>) -> &'static str {
    let Some(ty) = ty else { return "nothing" };
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) | Type::FixedLengthList(_) => "list",
        Type::Map(_) => "map",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) | Type::Borrow(_) => "resource",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::ErrorContext => "error-context",
    }
}

#[cfg(test)]
mod tests {
    use super::{Contracts, compatible, passes_resources, unlinkable};
    use wasmtime::component::Component;

    #[test]
    fn a_function_that_passes_a_resource_cannot_be_linked() {
        let engine = wasmtime::Engine::default();
        let wat = r#"(component (import "civic:files/store@1.0.0" (instance
            (export "file" (type (sub resource)))
            (export "take" (func (param "file" (own 0))))
            (export "list" (func (result (list (tuple string (option (own 0)))))))
            (export "name" (func (param "file" string) (result (list u8))))
        )))"#;
        let component = Component::new(&engine, wat).unwrap();
        let contracts = Contracts::of(&component, &engine);
        let functions = &contracts.imports[0].functions;
        assert!(passes_resources(&functions["take"].ty));
        assert!(passes_resources(&functions["list"].ty));
        assert!(!passes_resources(&functions["name"].ty));
    }

    #[test]
    fn an_async_function_cannot_be_linked() {
        let engine = wasmtime::Engine::default();
        let wat = r#"(component (import "civic:tax/assessment@1.0.0" (instance
            (export "assess" (func async (param "members" u32) (result u64)))
            (export "rate" (func (param "members" u32) (result u64)))
        )))"#;
        let component = Component::new(&engine, wat).unwrap();
        let contracts = Contracts::of(&component, &engine);
        let functions = &contracts.imports[0].functions;
        assert!(unlinkable(&functions["assess"].ty).is_some_and(|reason| reason.contains("async func")));
        assert_eq!(unlinkable(&functions["rate"].ty), None);
    }

    #[test]
    fn an_import_accepts_exports_by_the_caret_rule() {
        assert!(compatible("civic:tax/assessment@1.0.0", "civic:tax/assessment@1.4.2"));
        assert!(compatible("wasi:http/incoming-handler@0.2.0", "wasi:http/incoming-handler@0.2.6"));
        assert!(!compatible("civic:tax/assessment@1.2.0", "civic:tax/assessment@1.0.0"));
        assert!(!compatible("civic:tax/assessment@1.0.0", "civic:tax/assessment@2.0.0"));
        assert!(!compatible("civic:tax/assessment@0.2.0", "civic:tax/assessment@0.3.0"));
        assert!(!compatible("civic:tax/assessment@1.0.0", "civic:tax/reductions@1.0.0"));
        assert!(compatible("run", "run"));
    }
}
