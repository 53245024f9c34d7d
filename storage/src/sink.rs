//! Where the pipeline's records go: the [`HistorySink`] trait, implemented
//! by [`crate::ParquetWriter`] (files under the data directory) and
//! [`crate::clickhouse::ChSink`] (ClickHouse tables).
//!
//! A sink buffers what it is given and writes when asked; a write that
//! fails keeps its rows buffered, so the caller can retry (the pipeline
//! does, with backoff, and stops taking events while the sink is behind).

use crate::StorageError;
use crate::writer::{Flushed, Records};

/// A destination for history.
pub trait HistorySink: Send {
    /// The sink's name in logs (`Parquet`, `ClickHouse`); lowercased, its
    /// label in metrics.
    fn name(&self) -> &'static str;

    /// Buffers every record of `out`, emptying its vectors; dead letters
    /// are stamped `received_at` (epoch ms).
    fn add(&mut self, out: Records<'_>, received_at: i64);

    /// Records buffered and not yet written.
    fn pending(&self) -> usize;

    /// Writes buffered records: every one with `all`, otherwise those that
    /// waited long enough or fill a write.
    ///
    /// # Errors
    /// When the destination refuses; the records stay buffered.
    fn write(&mut self, all: bool) -> Result<Flushed, StorageError>;

    /// A sink of the same destination holding every record buffered here,
    /// which is left empty: the records can be written on another thread
    /// while this one buffers the next ones.
    fn take(&mut self) -> Box<dyn HistorySink>;

    /// Moves the rows of `other` (a sink [`HistorySink::take`] gave) into
    /// this one when one write of both is better than two (ClickHouse: one
    /// INSERT per table per checkpoint, not per partition); otherwise
    /// gives `other` back.
    fn absorb(&mut self, other: Box<dyn HistorySink>) -> Option<Box<dyn HistorySink>> {
        Some(other)
    }

    /// This sink as `Any`, for [`HistorySink::absorb`] to find its own kind.
    fn as_any(&mut self) -> &mut dyn std::any::Any;

    /// Names what is written from now on after a stream (a Kafka partition)
    /// and the checkpoint it belongs to, for [`HistorySink::discard_after`].
    fn set_origin(&mut self, _stream: &str, _checkpoint: u64) {}

    /// Makes everything written so far durable, when writes do not do it
    /// themselves.
    ///
    /// # Errors
    /// When the destination cannot be synced.
    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Removes what was written for `stream` after `checkpoint` (rows a
    /// crashed owner wrote after its last snapshot, which a replay writes
    /// again); returns how many units (files) it removed. A destination
    /// that collapses copies by id needs nothing removed.
    ///
    /// # Errors
    /// When the destination cannot be listed or changed.
    fn discard_after(&self, _stream: &str, _checkpoint: u64) -> Result<usize, StorageError> {
        Ok(0)
    }
}
