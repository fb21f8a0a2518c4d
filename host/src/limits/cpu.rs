//! Sharing the CPU between guests: every guest yields at each epoch tick, and requests that run
//! long take turns, so they cannot starve short ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Trap, UpdateDeadline};

/// How long a request may run before it counts as a long runner and must take turns.
const SHORT_RUN: Duration = Duration::from_millis(10);

/// The turns long runners take for the CPU: only this many run a slice at once, so requests that
/// finish quickly are never queued behind a crowd of slow or looping ones. One per host (its
/// sandbox owns it), so two hosts in one process — tests running in parallel — never share it.
#[derive(Clone)]
pub struct CpuTurns(Arc<Semaphore>);

impl CpuTurns {
    /// Half the machine's cores' worth of turns, at least one.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self(Arc::new(Semaphore::new((cores / 2).max(1))))
    }
}

/// What a guest does at an epoch tick: stop past its deadline; otherwise yield, and once it has
/// run longer than a short request does, give back its turn and wait for the next one.
///
/// A linked call runs under its caller's share (see [`CpuShare::for_callee`]): the caller waits
/// while its callee runs, so the two are one request, holding one turn.
#[derive(Clone)]
pub struct CpuShare {
    started: Instant,
    deadline: Instant,
    turns: CpuTurns,
    turn: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CpuShare {
    /// The share of a request that started now and is due by `deadline`.
    pub fn new(deadline: Instant, turns: &CpuTurns) -> Self {
        Self { started: Instant::now(), deadline, turns: turns.clone(), turn: Arc::default() }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The share of a callee of this request, due by its own `deadline`. It holds the caller's
    /// turn: with a turn of its own to wait for, a callee could wait forever on its caller.
    pub fn for_callee(&self, deadline: Instant) -> Self {
        Self { deadline, ..self.clone() }
    }

    /// The epoch callback's answer.
    pub fn at_tick(&self) -> wasmtime::Result<UpdateDeadline> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Trap::Interrupt.into());
        }
        // `yield_now` goes to the back of the run queue; a plain self-wake would run again first.
        if now - self.started < SHORT_RUN {
            return Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())));
        }
        // The semaphore is fair: giving the turn back lets every waiting long runner go first.
        drop(self.turn.lock().map(|mut held| held.take()));
        let (turns, turn) = (self.turns.0.clone(), self.turn.clone());
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                let permit = turns.acquire_owned().await.ok();
                if let Ok(mut held) = turn.lock() {
                    *held = permit;
                }
                tokio::task::yield_now().await;
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the future an epoch tick of `share` waits on, as wasmtime would.
    async fn tick(share: &CpuShare) {
        match share.at_tick().unwrap() {
            UpdateDeadline::YieldCustom(_, wait) => wait.await,
            _ => panic!("a tick before the deadline yields"),
        }
    }

    #[tokio::test]
    async fn a_callee_runs_on_its_callers_turn() {
        let far = Instant::now() + Duration::from_secs(60);
        let turns = CpuTurns::for_this_machine();
        // A request that has run long enough to take turns, and holds one.
        let mut caller = CpuShare::new(far, &turns);
        caller.started -= 2 * SHORT_RUN;
        tick(&caller).await;
        let others = turns.0.available_permits() as u32;
        let _all_taken = turns.0.clone().acquire_many_owned(others).await.unwrap();
        // Its callee is part of the same request: the same start, the same turn.
        let callee = caller.for_callee(far);
        assert!(Arc::ptr_eq(&caller.turn, &callee.turn) && callee.started == caller.started);
        let turned = tokio::time::timeout(Duration::from_secs(2), tick(&callee)).await;
        assert!(turned.is_ok(), "the callee waited for a turn its own caller holds");
    }
}
