//! A leader's evaluated batch, kept open until its entry is applied.
//!
//! The writer evaluates a batch in a write transaction of the session
//! file, recording its row changes for the Raft entry (`replica.rs`).
//! Applying that entry would write the same rows again on the same state.
//! So the transaction is kept ([`Gate::keep`]), holding the file's one
//! write lock while the entry is appended and committed, and the apply of
//! exactly that entry commits it instead of writing the rows a second time
//! ([`Gate::for_apply`]): one write transaction fewer per batch, and the
//! rows' pages copied once.
//!
//! **Why it is the same.** The kept transaction is the applied state at
//! `based_on` plus the batch's changes, and nothing can be applied on top
//! of `based_on` meanwhile: redb lets one write transaction live at a time.
//! An entry with that `based_on` and those changes, applied to that state,
//! writes exactly those rows; the apply takes the kept transaction only for
//! such an entry, coming first among the data batches it applies (the
//! check is the apply's, in `replica.rs`).
//!
//! **Never in the way.** Whoever else writes the session file while a
//! batch may be kept (an apply of other entries, a snapshot's flush or
//! install) takes its transaction through [`Gate::write_txn`], which
//! aborts the kept one first, so nothing waits for a write lock that only
//! the apply behind it would let go of. The entry, if it is committed, is
//! then applied from its rows as on every other replica. The writer holds
//! the gate from its `begin_write` until the transaction is kept, so no one
//! queues for the lock in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::LogId;
use redb::{Database, Durability, WriteTransaction};

use super::tables::Change;
use crate::error::Error;

/// A batch as evaluated: the last batch applied under it, and its rows.
pub(super) type Evaluated = (Option<LogId<u64>>, Vec<Change>);

/// The kept transaction and what its entry must carry to commit it.
pub(super) struct Kept {
    txn: WriteTransaction,
    /// The last batch applied when it was evaluated.
    pub(super) based_on: Option<LogId<u64>>,
    /// The rows it changed.
    pub(super) changes: Vec<Change>,
    /// The file the transaction writes, held while it lives.
    db: Arc<Database>,
}

impl Kept {
    /// The transaction, to read in.
    pub(super) fn txn(&self) -> &WriteTransaction {
        &self.txn
    }

    fn abort(self) {
        // A failed abort leaves nothing behind: the transaction is gone.
        if let Err(e) = self.txn.abort() {
            tracing::debug!(error = %e, "aborting a kept batch");
        }
    }
}

/// The session file's kept batch, if any (see the module docs).
#[derive(Default)]
pub(super) struct Gate {
    slot: Mutex<Option<Kept>>,
    /// Batches whose apply committed their kept transaction.
    committed: AtomicU64,
}

impl Gate {
    fn slot(&self) -> MutexGuard<'_, Option<Kept>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many applies committed a kept transaction so far.
    pub(super) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// The writer: runs `evaluate` in a new write transaction of `db` and
    /// keeps the transaction for the apply of the batch it returns.
    pub(super) fn keep(
        &self,
        db: &Arc<Database>,
        evaluate: impl FnOnce(&WriteTransaction) -> Result<Evaluated, Error>,
    ) -> Result<Evaluated, Error> {
        let mut slot = self.slot();
        if let Some(stale) = slot.take() {
            stale.abort();
        }
        let txn = db.begin_write()?;
        let (based_on, changes) = evaluate(&txn)?;
        *slot = Some(Kept {
            txn,
            based_on,
            changes: changes.clone(),
            db: db.clone(),
        });
        Ok((based_on, changes))
    }

    /// Aborts the kept batch, if its apply did not take it: the writer once
    /// its proposal returned, a reopen before it waits for the file.
    pub(super) fn discard(&self) {
        if let Some(kept) = self.slot().take() {
            kept.abort();
        }
    }

    /// A write transaction for anyone but the writer and the apply: a kept
    /// batch is aborted first.
    pub(super) fn write_txn(
        &self,
        db: &Database,
        durable: bool,
    ) -> Result<WriteTransaction, Error> {
        let mut slot = self.slot();
        if let Some(kept) = slot.take() {
            kept.abort();
        }
        write_txn(db, durable)
    }

    /// The transaction an apply writes in: the kept one, with what
    /// `position` says (the entry whose rows it holds already) when that is
    /// something; otherwise a new one (the kept one aborted).
    pub(super) fn for_apply(
        &self,
        db: &Database,
        durable: bool,
        position: impl FnOnce(&Kept) -> Result<Option<usize>, Error>,
    ) -> Result<(WriteTransaction, Option<usize>), Error> {
        let mut slot = self.slot();
        if let Some(kept) = slot.take() {
            let same_file = std::ptr::eq(Arc::as_ptr(&kept.db), db);
            match position(&kept)? {
                Some(i) if same_file => {
                    drop(slot);
                    self.committed.fetch_add(1, Ordering::Relaxed);
                    let mut txn = kept.txn;
                    set_durability(&mut txn, durable)?;
                    return Ok((txn, Some(i)));
                }
                _ => kept.abort(),
            }
        }
        Ok((write_txn(db, durable)?, None))
    }
}

/// A write transaction that commits with a flush (`durable`) or without.
/// Every store module takes it as `recovery::write_txn`; it lives here
/// because `recovery.rs` holds the [`Gate`], which uses it.
pub(super) fn write_txn(db: &Database, durable: bool) -> Result<WriteTransaction, Error> {
    let mut txn = db.begin_write()?;
    set_durability(&mut txn, durable)?;
    Ok(txn)
}

fn set_durability(txn: &mut WriteTransaction, durable: bool) -> Result<(), Error> {
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })?;
    Ok(())
}
