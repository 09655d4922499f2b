//! The streamed calls that move data in bulk: a user's export in parts
//! (StreamExportUserData, StreamExportUser), a streamed import
//! (StreamImportUser) and a shard's backup (Backup). Handler bodies kept
//! beside `service.rs`, which calls them; like it, this module knows tonic,
//! and the store does the reading and writing (`store/snapshot.rs`).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::catalog::CatalogFeed;
use crate::convert;
use crate::domain::UserData;
use crate::error::Error;
use crate::store::{BackupPart, ExportPart, FORMAT_VERSION, Store};

/// A boxed response stream.
pub type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// One export part on the wire: the first carries the user id, profile,
/// screening, holds and export time; the others only their records.
fn part_to_pb(part: &ExportPart, catalog: &CatalogFeed, now: Timestamp) -> pb::UserDataExport {
    let catalog = catalog.get().ok();
    let mut e = convert::export(&part.data, catalog.as_deref(), now);
    if !part.first {
        e.user_id.clear();
        e.profile = None;
        e.screening = None;
        e.export_time = None;
        e.holds.clear();
    }
    e
}

/// `user`'s data in parts. `empty_ok`: a user without data gets one part
/// holding the empty export (the user's own call) instead of NOT_FOUND
/// (the operator's call).
pub fn export(
    store: &Store,
    catalog: CatalogFeed,
    user: &str,
    empty_ok: bool,
) -> impl Stream<Item = Result<pb::UserDataExport, Status>> + Send + 'static {
    let now = Timestamp::now();
    let user = user.to_owned();
    ReceiverStream::new(store.export_stream(&user)).map(move |item| match item {
        Ok(part) => Ok(part_to_pb(&part, &catalog, now)),
        Err(Error::NotFound(_)) if empty_ok => {
            let part = ExportPart {
                data: UserData {
                    user_id: user.clone(),
                    ..UserData::default()
                },
                first: true,
            };
            Ok(part_to_pb(&part, &catalog, now))
        }
        Err(e) => Err(Status::from(e)),
    })
}

/// Reads an import stream, writing each part as it arrives. Returns
/// (sessions, parts).
pub async fn import(
    store: Arc<Store>,
    mut parts: Streaming<pb::StreamImportUserRequest>,
) -> Result<(u64, u64), Status> {
    let mut user: Option<String> = None;
    let mut sessions = 0u64;
    let mut count = 0u64;
    let result: Result<(), Status> = async {
        loop {
            let Some(msg) = parts.message().await? else {
                return Err(Error::Aborted(
                    "the import ended without a part marked `complete`; nothing of it was kept"
                        .into(),
                )
                .into());
            };
            count += 1;
            let mut e = msg.part.unwrap_or_default();
            let first = user.is_none();
            match &user {
                None => {
                    crate::convert::admin_user_id(&e.user_id)?;
                    user = Some(e.user_id.clone());
                }
                Some(u) if e.user_id.is_empty() || e.user_id == *u => e.user_id.clone_from(u),
                Some(_) => {
                    return Err(Error::field(
                        "part.user_id",
                        "differs from the first part's user id",
                    )
                    .into());
                }
            }
            let data = convert::import(&e)?;
            sessions += store.import_part(data, first).await?;
            if msg.complete {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(status) = result {
        if let Some(u) = &user {
            // Part of the user may be written: take it out again, so a
            // failed import leaves nothing half done.
            if let Err(e) = store.delete_user(u).await {
                tracing::error!(error = %e, "could not remove a failed import");
            }
        }
        return Err(status);
    }
    Ok((sessions, count))
}

/// The shard's backup as a stream of messages (see `BackupResponse`).
pub fn backup(store: &Store) -> Boxed<pb::BackupResponse> {
    let parts = ReceiverStream::new(store.backup_stream()).map(|item| {
        let part = item.map_err(Status::from)?;
        Ok(match part {
            BackupPart::Start { before, after } => pb::BackupResponse {
                snapshot_time: Some(convert::to_timestamp(before)),
                snapshot_open_time: Some(convert::to_timestamp(after)),
                format_version: FORMAT_VERSION,
                ..Default::default()
            },
            BackupPart::Rows { table, rows } => {
                let (keys, values) = rows.into_iter().unzip();
                pb::BackupResponse {
                    rows: vec![pb::BackupRows {
                        table,
                        keys,
                        values,
                    }],
                    ..Default::default()
                }
            }
            BackupPart::Done { counts } => pb::BackupResponse {
                counts: counts
                    .into_iter()
                    .map(|(table, rows)| pb::BackupTableCount {
                        table,
                        rows: i64::try_from(rows).unwrap_or(i64::MAX),
                    })
                    .collect(),
                done: true,
                ..Default::default()
            },
        })
    });
    Box::pin(parts)
}

/// What [`save_backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBackup {
    /// The backup point: the shard's read transaction began after this...
    pub snapshot_time: Timestamp,
    /// ...and before this.
    pub snapshot_open_time: Timestamp,
    /// Rows written, over all tables.
    pub rows: u64,
    /// Tables written.
    pub tables: usize,
}

fn backup_error(why: impl Into<String>) -> Error {
    Error::Storage(why.into())
}

/// A failure on this side (the file being written): the detail is the
/// operator's own, so it is kept.
fn local(e: Error) -> Status {
    Status::internal(e.to_string())
}

/// Writes the messages of a Backup call into a new database file at
/// `path` (see `store::write_backup_file`): the file appears only once
/// every row arrived and the row counts match.
pub async fn save_backup(
    mut stream: Streaming<pb::BackupResponse>,
    path: &std::path::Path,
) -> Result<SavedBackup, Status> {
    let first = stream
        .message()
        .await?
        .ok_or_else(|| Status::data_loss("the backup stream was empty"))?;
    if first.format_version != FORMAT_VERSION {
        return Err(Status::failed_precondition(format!(
            "the shard sends storage format {}, this tool writes {FORMAT_VERSION}: \
             use the tool of the shard's release",
            first.format_version
        )));
    }
    let time = |t: Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(convert::timestamp)
            .ok_or_else(|| Status::data_loss("the backup stream has no backup point"))
    };
    let snapshot_time = time(first.snapshot_time)?;
    let snapshot_open_time = time(first.snapshot_open_time)?;
    let mut file = crate::store::write_backup_file(path).map_err(local)?;
    loop {
        let msg = stream
            .message()
            .await?
            .ok_or_else(|| backup_error("the backup stream ended before its last message"))
            .map_err(|e| Status::data_loss(e.to_string()))?;
        for rows in &msg.rows {
            if rows.keys.len() != rows.values.len() {
                return Err(Status::data_loss("backup rows without values"));
            }
            let pairs: Vec<_> = rows
                .keys
                .iter()
                .cloned()
                .zip(rows.values.iter().cloned())
                .collect();
            file.rows(&rows.table, &pairs).map_err(local)?;
        }
        if msg.done {
            let counts: Vec<(String, u64)> = msg
                .counts
                .iter()
                .map(|c| (c.table.clone(), u64::try_from(c.rows).unwrap_or(0)))
                .collect();
            let tables = counts.len();
            let rows = file
                .finish(&counts)
                .map_err(|e| Status::data_loss(e.to_string()))?;
            return Ok(SavedBackup {
                snapshot_time,
                snapshot_open_time,
                rows,
                tables,
            });
        }
    }
}
