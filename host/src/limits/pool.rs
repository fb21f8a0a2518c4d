//! How big the pooling allocator is: a slot for every instance that may be alive at once, each
//! with room for the core instances, memories and tables of the largest component's shape.

use super::Limits;
use bytesize::ByteSize;
use std::fmt;

/// The most component instances the pool holds unless the operator says otherwise: plenty for
/// two cores, and each slot only reserves address space until it is used.
const MAX_POOLED_INSTANCES: u64 = 1000;

/// Bytes at the start of a slot's linear memory that stay resident between requests, reset by
/// copying the initial image back instead of being returned to the kernel and faulted in again.
/// Covers the stack, data and first heap pages of a component built with the SDK's small stack
/// (BENCHMARKS.md §2 measures the choice).
pub const KEEP_RESIDENT: u64 = 1 << 20;

/// Address space each memory slot reserves besides its guard, so that bounds checks are left to
/// the guard pages: wasmtime's default, spelled out here so the pool's footprint can be stated.
pub const MEMORY_RESERVATION: u64 = 4 << 30;

/// The guard region after each memory slot (wasmtime's default).
pub const MEMORY_GUARD: u64 = 32 << 20;

/// The address space a pool may reserve: half of the 128 TiB a 64-bit Linux process can map,
/// leaving the rest to the heap, the compiled code and the threads' stacks.
pub const MAX_RESERVATION: u64 = 64 << 40;

/// What one instance of a component takes from the pool, as wasmtime counts it when it
/// instantiates: every core module instance (adapters included), the memories and tables they
/// define, and the largest table's initial size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Core module instances, the adapters wasmtime generates included.
    pub core_instances: u32,
    /// Linear memories those instances define (imported ones are another's).
    pub memories: u32,
    /// Tables those instances define.
    pub tables: u32,
    /// Initial elements of the largest of them.
    pub table_elements: u64,
}

impl Shape {
    /// The least a pool is built for per instance, whatever it loads at start: room for a
    /// component of one module with the WASI adapter, so that a later swap of one like it fits.
    pub const FLOOR: Self = Self { core_instances: 4, memories: 2, tables: 2, table_elements: 20_000 };

    /// The larger of each count.
    pub fn max(self, other: Self) -> Self {
        Self {
            core_instances: self.core_instances.max(other.core_instances),
            memories: self.memories.max(other.memories),
            tables: self.tables.max(other.tables),
            table_elements: self.table_elements.max(other.table_elements),
        }
    }

    /// Whether an instance of this shape fits in a pool slot built for `room`.
    pub fn fits(self, room: Self) -> bool {
        self.max(room) == room
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} core instances, {} memories and {} tables (the largest of {} elements)",
            self.core_instances, self.memories, self.tables, self.table_elements
        )
    }
}

/// A slot for every instance that may be alive at once, each big enough for the largest memory
/// and the largest shape of any component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSize {
    /// Component instances alive at once; one more waits in its component's queue.
    pub instances: u32,
    /// Bytes of linear memory a slot holds.
    pub memory: u64,
    /// Bytes of a slot's memory kept resident and reset by copy when an instance ends.
    pub keep_resident: u64,
    /// Room per component instance; the pool holds `instances` times it.
    pub per_instance: Shape,
}

impl PoolSize {
    /// Sized for `components` (each one's limits and shape): as many instances as they may run
    /// at once (at most [`MAX_POOLED_INSTANCES`]), each with room for the largest shape (at least
    /// [`Shape::FLOOR`]), so that whichever instances are alive, the pool runs out of instances
    /// before it runs out of anything else; slots as large as the largest memory, and never
    /// smaller than `defaults`' memory (a component swapped in later gets the default).
    pub fn fitting(defaults: &Limits, components: impl IntoIterator<Item = (Limits, Shape)>) -> Self {
        let (mut concurrency, mut memory, mut per_instance) = (0u64, defaults.memory, Shape::FLOOR);
        for (limits, shape) in components {
            concurrency = concurrency.saturating_add(u64::from(limits.max_concurrency));
            memory = memory.max(limits.memory);
            per_instance = per_instance.max(shape);
        }
        Self {
            instances: u32::try_from(concurrency.clamp(1, MAX_POOLED_INSTANCES)).unwrap_or(u32::MAX),
            memory,
            keep_resident: KEEP_RESIDENT,
            per_instance,
        }
    }

    /// Of `kind` in the whole pool, `per` per instance.
    pub fn total(&self, per: u32) -> u32 {
        self.instances.saturating_mul(per)
    }

    /// The address space the memory slots reserve: each its reservation (or its size, when
    /// larger) and a guard.
    pub fn reservation(&self) -> u64 {
        let slot = self.memory.max(MEMORY_RESERVATION).saturating_add(MEMORY_GUARD);
        u64::from(self.total(self.per_instance.memories)).saturating_mul(slot)
    }

    /// Refuses a pool that would reserve more address space than [`MAX_RESERVATION`].
    pub fn check(&self) -> Result<(), String> {
        if self.reservation() <= MAX_RESERVATION {
            return Ok(());
        }
        Err(format!(
            "the instance pool would reserve {} of address space ({} instances × {} memories, each \
             reserving {} and a guard), more than the {} a host may: lower `--max-instances` or the \
             components' `max_concurrency`",
            ByteSize(self.reservation()),
            self.instances,
            self.per_instance.memories,
            ByteSize(self.memory.max(MEMORY_RESERVATION)),
            ByteSize(MAX_RESERVATION),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_every_components_concurrency_its_largest_memory_and_shape() {
        let defaults = Limits::default();
        let small = Limits { max_concurrency: 3, memory: 1 << 20, ..defaults };
        let big = Limits { max_concurrency: 5, memory: 1 << 30, ..defaults };
        let many_modules = Shape { core_instances: 40, memories: 1, tables: 1, table_elements: 30_000 };
        let pool = PoolSize::fitting(&defaults, [(small, Shape::FLOOR), (big, many_modules)]);
        assert_eq!(
            pool,
            PoolSize {
                instances: 8,
                memory: 1 << 30,
                keep_resident: KEEP_RESIDENT,
                per_instance: Shape { core_instances: 40, memories: 2, tables: 2, table_elements: 30_000 },
            }
        );
        assert_eq!(pool.total(pool.per_instance.core_instances), 320);
        assert_eq!(PoolSize::fitting(&defaults, []).instances, 1);
        let busy = Limits { max_concurrency: 600, ..defaults };
        assert_eq!(PoolSize::fitting(&defaults, [(busy, Shape::FLOOR), (busy, Shape::FLOOR)]).instances, 1000);
    }

    #[test]
    fn a_shape_fits_room_at_least_as_large_in_every_count() {
        let more_tables = Shape { tables: 3, ..Shape::FLOOR };
        assert!(Shape::FLOOR.fits(Shape::FLOOR));
        assert!(!more_tables.fits(Shape::FLOOR));
        assert!(Shape::FLOOR.fits(more_tables));
    }

    #[test]
    fn a_pool_past_the_address_space_a_host_may_reserve_is_refused_with_its_figures() {
        let pool = PoolSize::fitting(&Limits::default(), [(Limits::default(), Shape::FLOOR)]);
        assert_eq!(pool.reservation(), 100 * 2 * ((4 << 30) + (32 << 20)));
        assert!(pool.check().is_ok());
        let huge = PoolSize { instances: 10_000, per_instance: Shape { memories: 4, ..Shape::FLOOR }, ..pool };
        let refusal = huge.check().unwrap_err();
        assert!(refusal.contains("10000 instances × 4 memories") && refusal.contains("64.0 TiB"), "{refusal}");
    }
}
