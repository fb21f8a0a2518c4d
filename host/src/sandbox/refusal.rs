//! Why a swap, a rollback or a cluster's version was refused, as one name per reason: the admin
//! API's `kind`, the console's sentence and the `kind` label of `civic_swaps_rejected_total` all
//! come from here, so a new reason cannot be forgotten by one of them.

/// The reason, without its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not a component, or one that does not compile.
    Compile,
    /// It imports what the host does not provide.
    Imports,
    /// It does not export what the current version serves.
    Exports,
    /// The city's links to or from it would not type-check.
    Links,
    /// It failed its health route.
    Health,
    /// One instance of it needs more of the instance pool than the pool was built for.
    Pool,
    /// No such city or component.
    NotFound,
    /// A rollback with nothing to roll back to.
    NoEarlierVersion,
    /// The cluster's state store did not answer.
    Unavailable,
    /// The cluster's state store refused the change.
    Store,
}

impl RefusalKind {
    pub const ALL: [Self; 10] = [
        Self::Compile,
        Self::Imports,
        Self::Exports,
        Self::Links,
        Self::Health,
        Self::Pool,
        Self::NotFound,
        Self::NoEarlierVersion,
        Self::Unavailable,
        Self::Store,
    ];

    /// The stable name, for machines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Compile => "compile",
            Self::Imports => "imports",
            Self::Exports => "exports",
            Self::Links => "links",
            Self::Health => "health",
            Self::Pool => "pool",
            Self::NotFound => "not-found",
            Self::NoEarlierVersion => "no-earlier-version",
            Self::Unavailable => "unavailable",
            Self::Store => "store",
        }
    }

    /// The reason as the end of "… was refused, because …", for people.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::Compile => "it does not compile",
            Self::Imports => "it imports what this host does not provide",
            Self::Exports => "it does not export what the current version serves",
            Self::Links => "the city's links to or from it would not type-check",
            Self::Health => "it failed its health check",
            Self::Pool => "it needs more of the instance pool than this host was built for",
            Self::NotFound => "there is no such component",
            Self::NoEarlierVersion => "there is no earlier version",
            Self::Unavailable => "the cluster's state store is unreachable",
            Self::Store => "the cluster's state store failed",
        }
    }

    /// Its place in [`RefusalKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_place_and_a_name_of_its_own() {
        for (index, kind) in RefusalKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
        let names: std::collections::BTreeSet<_> = RefusalKind::ALL.map(RefusalKind::name).into_iter().collect();
        assert_eq!(names.len(), RefusalKind::ALL.len());
    }
}
