//! What a component offers and needs, read once from its type when it is loaded.

use crate::manifest::Contract;
use std::collections::BTreeMap;
use wasmtime::component::types::{ComponentFunc, ComponentInstance, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex};

/// A component's interfaces: every import outside `wasi:` (the host provides those), which
/// other components must serve, and every interface it exports.
#[derive(Default)]
pub struct Contracts {
    pub imports: Vec<Interface>,
    /// `wasi:http/incoming-handler` among them when it serves HTTP; the versioned ones outside
    /// `wasi:` are the contracts it serves other components.
    pub exports: Vec<Interface>,
}

/// One interface, by its full name (`civic:tax/assessment@1.0.0`).
pub struct Interface {
    pub name: String,
    /// The contract it belongs to, when it is versioned and outside `wasi:`.
    pub contract: Option<Contract>,
    pub functions: BTreeMap<String, Function>,
}

pub struct Function {
    pub ty: ComponentFunc,
    /// Where to find it in an instance, for exports.
    pub export: Option<ComponentExportIndex>,
}

impl Contracts {
    /// Reads them off `component`'s type.
    pub fn of(component: &Component, engine: &wasmtime::Engine) -> Self {
        let ty = component.component_type();
        let functions = |instance: &ComponentInstance, export: Option<&_>| {
            instance
                .exports(engine)
                .filter_map(|(name, item)| match item.ty {
                    ComponentItem::ComponentFunc(ty) => {
                        let export = export.and_then(|parent| component.get_export_index(Some(parent), name));
                        Some((name.to_owned(), Function { ty, export }))
                    }
                    _ => None,
                })
                .collect()
        };
        let interface = |name: &str, item: ComponentItem, exported: bool| match item {
            ComponentItem::ComponentInstance(instance) => {
                let index = if exported { component.get_export_index(None, name) } else { None };
                let functions = functions(&instance, index.as_ref());
                Some(Interface { name: name.to_owned(), contract: Contract::of(name), functions })
            }
            _ => None,
        };
        Self {
            imports: ty
                .imports(engine)
                .filter(|(name, _)| !name.starts_with("wasi:"))
                .filter_map(|(name, item)| interface(name, item.ty, false))
                .collect(),
            exports: ty.exports(engine).filter_map(|(name, item)| interface(name, item.ty, true)).collect(),
        }
    }

    /// The export that serves `contract`, if any.
    pub fn export(&self, contract: &Contract) -> Option<&Interface> {
        self.exports.iter().find(|e| e.contract.as_ref() == Some(contract))
    }

    /// Whether it serves any contract to other components.
    pub fn serves_contracts(&self) -> bool {
        self.exports.iter().any(|e| e.contract.is_some())
    }
}
