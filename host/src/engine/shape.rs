//! What one instance of a component takes from the pool, read from its bytes before any engine
//! exists: the pool is built once, at start, and must already fit what it will run.
//!
//! The count is wasmtime's own: its component translator flattens nested components and adds
//! the adapter modules it will generate, and the core instances and the memories and tables
//! they define are what its pooling allocator takes per instance. Translating parses and
//! validates the component but compiles nothing.

use crate::limits::{Limits, Shape};
use crate::manifest::{CitySpec, Digest, WasmFile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use wasmparser::{Validator, WasmFeatures};
use wasmtime_environ::component::{ComponentTypesBuilder, GlobalInitializer, InstantiateModule, Translator};
use wasmtime_environ::{ScopeVec, Tunables};

/// The shape of the component in `bytes`; fails when they are not a valid component (compiling
/// it will say why in full).
pub fn of(bytes: &[u8]) -> anyhow::Result<Shape> {
    let tunables = Tunables::default_host();
    let scope = ScopeVec::new();
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut types = ComponentTypesBuilder::new(&validator);
    let (translation, modules) = Translator::new(&tunables, &mut validator, &mut types, &scope).translate(bytes)?;
    let mut shape = Shape::default();
    for init in &translation.component.initializers {
        let GlobalInitializer::InstantiateModule(instantiate, _) = init else { continue };
        shape.core_instances += 1;
        // An imported module is the embedder's to give: the host gives none, so linking fails.
        let InstantiateModule::Static(index, _) = instantiate else { continue };
        let module = &modules[*index].module;
        shape.memories += u32::try_from(module.num_defined_memories()).unwrap_or(u32::MAX);
        shape.tables += u32::try_from(module.num_defined_tables()).unwrap_or(u32::MAX);
        let defined = module.tables.values().skip(module.num_imported_tables);
        shape.table_elements = defined.map(|table| table.limits.min).fold(shape.table_elements, u64::max);
    }
    Ok(shape)
}

/// Shapes by content hash, each read once; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Shapes(Arc<Mutex<HashMap<Digest, Shape>>>);

impl Shapes {
    /// The shape of `wasm`; of a component that does not translate, [`Shape::FLOOR`] (it will
    /// not compile either, and says why then).
    pub fn of(&self, wasm: &WasmFile) -> Shape {
        let known = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shape) = known().get(&wasm.digest) {
            return *shape;
        }
        // Read without the lock: a large component takes a while, and others may be prepared meanwhile.
        let shape = of(&wasm.bytes).unwrap_or(Shape::FLOOR);
        known().insert(wasm.digest, shape);
        shape
    }

    /// Every component of `cities` with its budgets over `defaults` and its shape: what the pool
    /// is sized for.
    pub fn of_cities<'a>(
        &'a self,
        defaults: &'a Limits,
        cities: &'a [Arc<CitySpec>],
    ) -> impl Iterator<Item = (Limits, Shape)> + 'a {
        cities.iter().flat_map(|city| &city.components).map(|c| (c.limits.over(defaults), self.of(&c.wasm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_components_count_once_per_instantiation() {
        let component = wat::parse_str(
            r#"(component
                (component $inner
                    (core module $m (memory 1) (table 3 funcref))
                    (core instance (instantiate $m)))
                (instance (instantiate $inner))
                (instance (instantiate $inner)))"#,
        )
        .unwrap();
        assert_eq!(of(&component).unwrap(), Shape { core_instances: 2, memories: 2, tables: 2, table_elements: 3 });
    }

    #[test]
    fn every_added_core_instance_counts_with_what_it_defines() {
        let narrow = std::fs::read(civic_tests::FAULTY).unwrap();
        let (before, after) = (of(&narrow).unwrap(), of(&civic_tests::edit::widened(&narrow, 10)).unwrap());
        assert!(before.core_instances >= 1 && before.memories >= 1, "{before:?}");
        assert_eq!(
            after,
            Shape {
                core_instances: before.core_instances + 10,
                memories: before.memories + 10,
                tables: before.tables + 10,
                ..before
            }
        );
        assert!(of(b"not a component").is_err());
    }
}
