//! The one classification of how a guest's run failed, for a request and for a linked call alike.

use crate::link::{Cause, LinkError};

/// Why a guest did not finish its work.
#[derive(Debug)]
pub enum Failure {
    Busy(Busy),
    /// Its deadline passed (the epoch callback interrupted it).
    PastDeadline,
    /// A call it made through a link failed.
    Link(LinkError),
    /// It trapped: a panic, an abort, a failed host call.
    Trap(wasmtime::Error),
    /// Its store could not be set up (a granted directory could not be opened).
    Setup(String),
}

/// Which place was taken.
#[derive(Debug)]
pub enum Busy {
    /// The component runs its `max_concurrency` already.
    Concurrency,
    /// The pooling allocator has no free instance slot.
    Pool,
}

impl Failure {
    pub fn of(error: wasmtime::Error) -> Self {
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            Self::PastDeadline
        } else if error.root_cause().downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            Self::Busy(Busy::Pool)
        } else {
            match error.downcast::<LinkError>() {
                Ok(link) => Self::Link(link),
                Err(error) => Self::Trap(error),
            }
        }
    }

    /// The failure as the caller of a linked call sees it.
    pub fn into_cause(self) -> Cause {
        match self {
            Self::Busy(_) => Cause::Busy,
            Self::PastDeadline => Cause::Failed("it ran past its deadline".to_owned()),
            Self::Link(inner) => Cause::Downstream(Box::new(inner)),
            Self::Trap(error) => Cause::Failed(format!("it failed: {}", error.root_cause())),
            Self::Setup(message) => Cause::Failed(message),
        }
    }
}
