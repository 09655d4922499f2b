//! Moving users when the session shard list changes.
//!
//! Procedure (also in the crate docs):
//! 1. Start the new shard processes (empty).
//! 2. Stop writes for the move window, or accept that writes made during
//!    it to a moving user may be lost: the simplest safe way is to keep the
//!    gateways on the old list and drain traffic (maintenance mode).
//! 3. Run [`reshard`] with the old and the new list: for every user on
//!    every old shard whose shard changes under the new list, it exports
//!    the user, imports them on the new shard, exports them again from the
//!    new shard to verify that the data arrived intact, and only then
//!    deletes them from the old shard. A failed user is left in place and
//!    reported; running the tool again is safe (import replaces).
//!    Export and import are streams of parts (StreamExportUser,
//!    StreamImportUser) piped from one shard to the other as they come, and
//!    the check compares SHA-256 digests of the parts: neither a message
//!    size limit nor the tool's memory bounds how big a user may be.
//! 4. Restart the gateways with the new list.

use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::ReceiverStream;

use knotwork_proto::metadata::INTERNAL_TOKEN;
use knotwork_proto::session::v1::UserDataExport;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::{
    DeleteUserRequest, ListUsersRequest, StreamExportUserRequest, StreamImportUserRequest,
};
use knotwork_runtime::memory::Link;
use knotwork_runtime::tls::BackendTls;
use tonic::Request;
use tonic::metadata::AsciiMetadataValue;

use crate::Error;
use crate::route::shard_for;

pub mod online;

/// What a reshard did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReshardReport {
    /// Users looked at.
    pub users_seen: usize,
    /// Users moved (copied, verified, deleted from the old shard).
    pub users_moved: usize,
    /// Users that could not be moved, with why; their data stays on the old shard.
    pub failures: Vec<(String, String)>,
}

pub(crate) fn channel(url: &str, tls: &BackendTls) -> Result<Link, Error> {
    Ok(tls
        .endpoint(url)
        .map_err(|e| Error::Config(format!("bad shard URL {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy()
        .into())
}

/// Deadline of a unary admin call.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of moving one user (export, import, verify).
pub(crate) const STREAM_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Adds one export part to a digest, without the fields that differ
/// between two exports of the same data (the export time).
fn digest_part(hasher: &mut Sha256, part: &UserDataExport) {
    use prost::Message as _;
    let mut part = part.clone();
    part.export_time = None;
    let bytes = part.encode_to_vec();
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(&bytes);
}

/// The SHA-256 digest of a user's export as `shard` streams it.
pub(crate) async fn export_digest(
    shard: &mut SessionAdminServiceClient<Link>,
    user: &str,
    token: &AsciiMetadataValue,
) -> Result<[u8; 32], tonic::Status> {
    let mut req = Request::new(StreamExportUserRequest {
        user_id: user.to_owned(),
    });
    req.metadata_mut().insert(INTERNAL_TOKEN, token.clone());
    req.set_timeout(STREAM_TIMEOUT);
    let mut parts = shard.stream_export_user(req).await?.into_inner();
    let mut hasher = Sha256::new();
    while let Some(msg) = parts.message().await? {
        digest_part(&mut hasher, &msg.part.unwrap_or_default());
    }
    Ok(hasher.finalize().into())
}

/// Which side of a copy failed, with the status it answered (so the
/// online reshard follows the right group's leader).
#[derive(Debug)]
pub(crate) enum CopyFailed {
    /// The export from the source.
    Export(tonic::Status),
    /// The import into the target.
    Import(tonic::Status),
}

impl std::fmt::Display for CopyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyFailed::Export(s) => write!(f, "export: {}", s.message()),
            CopyFailed::Import(s) => write!(f, "import: {}", s.message()),
        }
    }
}

/// Streams `user` from `source` into `target`, part by part; returns the
/// digest of what was sent.
pub(crate) async fn copy_user(
    source: &mut SessionAdminServiceClient<Link>,
    target: &mut SessionAdminServiceClient<Link>,
    user: &str,
    token: &AsciiMetadataValue,
) -> Result<[u8; 32], CopyFailed> {
    let mut req = Request::new(StreamExportUserRequest {
        user_id: user.to_owned(),
    });
    req.metadata_mut().insert(INTERNAL_TOKEN, token.clone());
    req.set_timeout(STREAM_TIMEOUT);
    let mut parts = source
        .stream_export_user(req)
        .await
        .map_err(CopyFailed::Export)?
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel::<StreamImportUserRequest>(4);
    let mut import = Request::new(ReceiverStream::new(rx).boxed());
    import.metadata_mut().insert(INTERNAL_TOKEN, token.clone());
    import.set_timeout(STREAM_TIMEOUT);
    let stopped = || CopyFailed::Import(tonic::Status::unavailable("the target stopped reading"));
    let pump = async move {
        let mut hasher = Sha256::new();
        while let Some(msg) = parts.message().await.map_err(CopyFailed::Export)? {
            let part = msg.part.unwrap_or_default();
            digest_part(&mut hasher, &part);
            tx.send(StreamImportUserRequest {
                part: Some(part),
                complete: false,
            })
            .await
            .map_err(|_| stopped())?;
        }
        // Only now is the import whole; if this is never sent (an export
        // error above drops `tx`), the target undoes the import.
        tx.send(StreamImportUserRequest {
            part: None,
            complete: true,
        })
        .await
        .map_err(|_| stopped())?;
        Ok::<_, CopyFailed>(hasher.finalize().into())
    };
    let (imported, sent) = tokio::join!(target.stream_import_user(import), pump);
    // An export error explains an aborted import better than the abort,
    // and the import's own status better than "stopped reading".
    match (sent, imported) {
        (Err(CopyFailed::Export(s)), _) => Err(CopyFailed::Export(s)),
        (_, Err(s)) => Err(CopyFailed::Import(s)),
        (sent, Ok(_)) => sent,
    }
}

/// Moves every user whose shard changes from `old_shards` to `new_shards`
/// (both in shard order, as given to the gateway), over plain text or, for
/// `https://` shards, TLS without a client certificate; see
/// [`reshard_with_tls`].
pub async fn reshard(
    old_shards: &[String],
    new_shards: &[String],
    internal_token: &str,
) -> Result<ReshardReport, Error> {
    reshard_with_tls(
        old_shards,
        new_shards,
        internal_token,
        &BackendTls::default(),
    )
    .await
}

/// [`reshard`] with `tls` for `https://` shard URLs: the CA of the shards'
/// certificates and, for shards that require mTLS, the client certificate.
/// See the module docs for the procedure.
pub async fn reshard_with_tls(
    old_shards: &[String],
    new_shards: &[String],
    internal_token: &str,
    tls: &BackendTls,
) -> Result<ReshardReport, Error> {
    if old_shards.is_empty() || new_shards.is_empty() {
        return Err(Error::Config(
            "both shard lists must be non-empty".to_owned(),
        ));
    }
    let token: AsciiMetadataValue = internal_token.parse().map_err(|_| {
        Error::Config("the internal credential is not a valid header value".to_owned())
    })?;
    let admin = |url: &str| -> Result<SessionAdminServiceClient<Link>, Error> {
        Ok(SessionAdminServiceClient::new(channel(url, tls)?)
            .max_decoding_message_size(256 * 1024 * 1024))
    };
    fn with_token<M>(m: M, token: &AsciiMetadataValue) -> Request<M> {
        let mut r = Request::new(m);
        r.metadata_mut().insert(INTERNAL_TOKEN, token.clone());
        r.set_timeout(CALL_TIMEOUT);
        r
    }
    let mut report = ReshardReport::default();
    for old_url in old_shards {
        let mut source = admin(old_url)?;
        // Collect first: deleting while paging would shift the pages.
        let mut users = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = source
                .list_users(with_token(
                    ListUsersRequest {
                        page_size: 1000,
                        page_token: page_token.clone(),
                        buckets: Vec::new(),
                    },
                    &token,
                ))
                .await
                .map_err(Error::Upstream)?
                .into_inner();
            users.extend(page.user_ids);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        for user in users {
            report.users_seen += 1;
            let new_url = &new_shards[shard_for(&user, new_shards.len())];
            if new_url == old_url {
                continue;
            }
            let mut target = admin(new_url)?;
            let moved: Result<(), String> = async {
                let sent = copy_user(&mut source, &mut target, &user, &token)
                    .await
                    .map_err(|e| e.to_string())?;
                let check = export_digest(&mut target, &user, &token)
                    .await
                    .map_err(|s| format!("verify: {}", s.message()))?;
                if check != sent {
                    return Err("verify: the copy differs".to_owned());
                }
                source
                    .delete_user(with_token(
                        DeleteUserRequest {
                            user_id: user.clone(),
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| format!("delete: {}", s.message()))?;
                Ok(())
            }
            .await;
            match moved {
                Ok(()) => {
                    tracing::info!(user = %user, from = %old_url, to = %new_url, "user moved");
                    report.users_moved += 1;
                }
                Err(why) => {
                    tracing::warn!(user = %user, from = %old_url, to = %new_url, error = %why, "user not moved");
                    report.failures.push((user, why));
                }
            }
        }
    }
    Ok(report)
}
