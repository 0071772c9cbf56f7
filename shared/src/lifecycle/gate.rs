//! Contention (docs/DESIGN.md, "Contention"): the accepts and holds of one broadcast take one
//! turn at a time in this process, so the requests waiting for it hold no database connection
//! and never queue on the broadcast's row lock. Whoever holds the turn publishes what it saw of
//! the broadcast under that lock; a waiter that arrived before that sight and that the machine
//! refuses there is refused from it, without PostgreSQL. The answer is exact, not a cache: the
//! sight is the committed state at a moment inside the waiter's request, so the refusal is the
//! one the database would have given had the request run at that moment. A request that
//! arrived after a sight never uses it, so nothing ever needs clearing when a line reopens; the
//! database stays the only judge of winners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{LineKind, Locked, refusal};
use crate::domain::BroadcastId;
use crate::domain::machine::{Broadcast, Refusal};
use crate::error::{Error, Result};

/// The turns of the broadcasts being taken right now in this process. An entry lives only while
/// some request waits for its turn or holds it.
#[derive(Default)]
pub struct Gates {
    open: Mutex<HashMap<Uuid, Arc<Gate>>>,
}

#[derive(Default)]
struct Gate {
    turn: Arc<tokio::sync::Mutex<()>>,
    seen: Mutex<Option<Seen>>,
}

/// A broadcast's committed state at one moment no earlier than `at`.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    machine: Broadcast,
    kinds: Vec<LineKind>,
}

/// What one accept or hold saw of its broadcast: the state under the row lock, and the state it
/// leaves behind if it commits (filled in by `lifecycle::accept` and `holds::place`).
#[derive(Debug, Default)]
pub struct Sight {
    locked: Option<Seen>,
    leaves: Option<Seen>,
}

impl Sight {
    /// Locks the broadcast (`lifecycle::lock`) and records what it read, stamped with the moment
    /// before the lock was asked for: the state read under it held when the lock was granted,
    /// later than that.
    pub(super) async fn lock(&mut self, conn: &mut PgConnection, broadcast: Uuid) -> Result<Locked> {
        let asked = Instant::now();
        let l = super::lock(conn, broadcast).await?;
        self.locked = Some(Seen { at: asked, machine: l.machine.clone(), kinds: l.kinds.clone() });
        Ok(l)
    }

    /// Called before the commit: if it commits, `machine` is the state at the commit, later than now.
    pub(super) fn leaves(&mut self, machine: &Broadcast, kinds: &[LineKind]) {
        self.leaves = Some(Seen { at: Instant::now(), machine: machine.clone(), kinds: kinds.to_vec() });
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data under these locks is replaced whole, never left half-written: a panic elsewhere
    // while one was held cannot have broken it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gates {
    /// Waits for `broadcast`'s turn in this process (holding nothing else meanwhile).
    pub async fn turn(&self, broadcast: BroadcastId) -> Turn<'_> {
        let id = broadcast.uuid();
        let gate = locked(&self.open).entry(id).or_default().clone();
        let mut turn = Turn { gates: self, id, gate, guard: None };
        // A request dropped while it waits (its client went away) drops `turn` here, which
        // removes the gate when it was the last one waiting.
        turn.guard = Some(turn.gate.turn.clone().lock_owned().await);
        turn
    }

    /// Broadcasts with a request waiting for or holding a turn.
    #[cfg(test)]
    fn len(&self) -> usize {
        locked(&self.open).len()
    }
}

/// One request's turn at a broadcast; dropping it passes the turn on.
pub struct Turn<'a> {
    gates: &'a Gates,
    id: Uuid,
    gate: Arc<Gate>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turn<'_> {
    /// The refusal for a request that arrived at `arrived`, from the latest sight made after it
    /// arrived, when `judge` (the machine's accept or hold of line `line`) is refused there.
    pub fn refusal(
        &self,
        arrived: Instant,
        line: i32,
        judge: impl Fn(&Broadcast, usize) -> Result<(), Refusal>,
    ) -> Option<Error> {
        let seen = locked(&self.gate.seen);
        let s = seen.as_ref().filter(|s| s.at > arrived)?;
        let index = s.kinds.iter().position(|k| k.no == line).unwrap_or(usize::MAX);
        judge(&s.machine, index).err().map(|r| refusal(r, s.kinds.get(index)))
    }

    /// Publishes what `sight` saw: the state it left when its transaction committed, else the
    /// state it read under the lock. A later sight replaces an earlier one.
    pub fn publish(&self, sight: Sight, committed: bool) {
        let seen = if committed { sight.leaves.or(sight.locked) } else { sight.locked };
        let Some(seen) = seen else { return };
        let mut current = locked(&self.gate.seen);
        if current.as_ref().is_none_or(|c| c.at < seen.at) {
            *current = Some(seen);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut open = locked(&self.gates.open);
        // Clones are made under this lock, so when only the map and this turn hold the gate
        // nobody waits for it and nobody can start to: its sights can concern no one.
        if Arc::strong_count(&self.gate) == 2 {
            open.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VehicleType;
    use crate::domain::machine::{BroadcastStatus, LineState};

    fn kinds() -> Vec<LineKind> {
        vec![LineKind { no: 0, vehicle_type: VehicleType::Open, vehicle_subtype: "17ft".into() }]
    }

    fn machine(filled: u32) -> Broadcast {
        let mut m = Broadcast::new(vec![LineState { needed: 2, filled, held: 0 }]);
        m.status = if filled == 2 { BroadcastStatus::FullyFilled } else { BroadcastStatus::PartiallyFilled };
        m
    }

    fn accept(m: &Broadcast, i: usize) -> Result<(), Refusal> {
        m.accept(i).map(drop)
    }

    #[tokio::test]
    async fn a_sight_refuses_only_requests_that_arrived_before_it_and_only_where_the_machine_refuses() {
        let gates = Gates::default();
        let id = BroadcastId(Uuid::now_v7());
        let early = Instant::now();
        let turn = gates.turn(id).await;
        let mut sight = Sight::default();
        sight.leaves(&machine(2), &kinds());
        turn.publish(sight, true);
        let late = Instant::now();
        let refused = turn.refusal(early, 0, accept).expect("arrived before a full line was seen");
        assert_eq!(refused.code(), "BROADCAST_FILLED");
        assert!(turn.refusal(late, 0, accept).is_none(), "arrived after the sight: the database decides");

        let mut sight = Sight::default();
        sight.leaves(&machine(1), &kinds());
        turn.publish(sight, false);
        assert!(turn.refusal(early, 0, accept).is_some(), "an uncommitted transaction's result is never published");

        let mut sight = Sight::default();
        sight.leaves(&machine(1), &kinds());
        turn.publish(sight, true);
        assert!(turn.refusal(early, 0, accept).is_none(), "a free truck seen later: the database decides");
    }

    #[tokio::test]
    async fn a_gate_lives_only_while_someone_waits_for_or_holds_its_turn() {
        let gates = Arc::new(Gates::default());
        let id = BroadcastId(Uuid::now_v7());
        let first = gates.turn(id).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter = {
            let gates = gates.clone();
            tokio::spawn(async move {
                let second = gates.turn(id).await;
                tx.send(()).ok();
                drop(second);
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(gates.len(), 1);
        drop(first);
        rx.await.expect("the waiter got the turn");
        waiter.await.expect("waiter");
        assert_eq!(gates.len(), 0);

        // A waiter whose request is dropped while it waits leaves nothing behind either.
        let first = gates.turn(id).await;
        let abandoned = {
            let gates = gates.clone();
            tokio::spawn(async move { drop(gates.turn(id).await) })
        };
        while Arc::strong_count(&locked(&gates.open)[&id.uuid()]) < 3 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.is_err_and(|e| e.is_cancelled()));
        drop(first);
        assert_eq!(gates.len(), 0, "the abandoned waiter's gate is gone");
    }
}
