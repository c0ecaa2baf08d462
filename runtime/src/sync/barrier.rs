//! `Barrier`: `n` tasks wait until all of them have arrived.

use super::notify::Notify;
use crate::loom::sync::{lock, Mutex};

/// Makes `n` tasks wait for each other. Reusable: after a round completes, the next `n`
/// arrivals form the next round.
#[derive(Debug)]
pub struct Barrier {
    state: Mutex<State>,
    round_done: Notify,
    n: usize,
}

#[derive(Debug)]
struct State {
    arrived: usize,
    round: u64,
}

/// What [`Barrier::wait`] returns; exactly one task per round is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for one task of each round (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks (`0` behaves as `1`).
    pub fn new(n: usize) -> Barrier {
        Barrier { state: Mutex::new(State { arrived: 0, round: 0 }), round_done: Notify::new(), n: n.max(1) }
    }

    /// Waits until `n` tasks have called `wait` in this round.
    ///
    /// Not cancel-safe: a cancelled `wait` still counts as arrived for its round.
    pub async fn wait(&self) -> BarrierWaitResult {
        let (round, mut notified) = {
            let mut state = lock(&self.state);
            state.arrived += 1;
            if state.arrived == self.n {
                state.arrived = 0;
                state.round += 1;
                drop(state);
                self.round_done.notify_waiters();
                return BarrierWaitResult(true);
            }
            // Created under the lock: the leader's notify_waiters comes after and reaches it.
            (state.round, Box::pin(self.round_done.notified()))
        };
        loop {
            notified.as_mut().await;
            let state = lock(&self.state);
            if state.round != round {
                return BarrierWaitResult(false);
            }
            notified = Box::pin(self.round_done.notified());
        }
    }
}
