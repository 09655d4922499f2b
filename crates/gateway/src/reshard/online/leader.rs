//! How the online reshard reaches a shard: every call through
//! [`Group::call`] to the group's leader (a single copy is a group of one),
//! with the tool's patience for elections.

use std::future::Future;
use std::time::{Duration, Instant};

use knotwork_proto::metadata::INTERNAL_TOKEN;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_runtime::memory::Link;
use tonic::{Request, Response, Status};

use super::super::{CALL_TIMEOUT, CopyFailed, STREAM_TIMEOUT, copy_user, export_digest};
use super::Mover;
use crate::backend::{call_with_deadline, classify};
use crate::shards::Group;

/// The longest a call waits for its group to have a reachable leader (an
/// election after the leader died) before the step fails.
pub const LEADER_WAIT: Duration = Duration::from_secs(15);

/// The admin client of a member's channel.
fn admin(channel: Link) -> SessionAdminServiceClient<Link> {
    SessionAdminServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024)
}

impl Mover {
    fn req<M>(&self, m: M) -> Request<M> {
        let mut r = Request::new(m);
        r.metadata_mut().insert(INTERNAL_TOKEN, self.token.clone());
        r.set_timeout(CALL_TIMEOUT);
        r
    }

    /// One unary admin call to `group`'s leader.
    pub(super) async fn call<M, R, F, Fut>(
        &self,
        group: &Group,
        message: M,
        call: F,
    ) -> Result<R, Status>
    where
        M: Clone,
        F: Fn(SessionAdminServiceClient<Link>, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let deadline = Instant::now() + CALL_TIMEOUT;
        let on_channel = |channel: Link, req: Request<M>| call(admin(channel), req);
        group
            .call(deadline, LEADER_WAIT, |backend, attempt| {
                let req = self.req(message.clone());
                let on_channel = &on_channel;
                async move { call_with_deadline(&backend, attempt, req, on_channel).await }
            })
            .await
            .map(Response::into_inner)
    }

    /// The digest of `user`'s export from `group`'s leader.
    pub(super) async fn digest(&self, group: &Group, user: &str) -> Result<[u8; 32], Status> {
        let deadline = Instant::now() + STREAM_TIMEOUT;
        group
            .call(deadline, LEADER_WAIT, |backend, _| async move {
                export_digest(&mut admin(backend.channel()), user, &self.token)
                    .await
                    .map_err(|s| classify(s, &backend.url))
            })
            .await
    }

    /// Copies `user` from `source`'s leader to `target`'s, each followed on
    /// its own: a copy cut by either side's leader change is made again.
    pub(super) async fn copy(
        &self,
        source: &Group,
        target: &Group,
        user: &str,
    ) -> Result<[u8; 32], String> {
        let deadline = Instant::now() + STREAM_TIMEOUT;
        let token = &self.token;
        let outcome = source
            .call(deadline, LEADER_WAIT, |from, _| async move {
                // The target's call answers Ok for what is not its to
                // follow (an export failure), so the source follows that.
                let into = target
                    .call(deadline, LEADER_WAIT, |to, _| {
                        let from = from.clone();
                        async move {
                            let sent = copy_user(
                                &mut admin(from.channel()),
                                &mut admin(to.channel()),
                                user,
                                token,
                            )
                            .await;
                            match sent {
                                Ok(digest) => Ok(Ok(digest)),
                                Err(CopyFailed::Export(s)) => Ok(Err(classify(s, &from.url))),
                                Err(CopyFailed::Import(s)) => Err(classify(s, &to.url)),
                            }
                        }
                    })
                    .await;
                match into {
                    Ok(Ok(digest)) => Ok(Ok(digest)),
                    Ok(Err(export)) => Err(export),
                    Err(import) => Ok(Err(format!("import: {}", import.message()))),
                }
            })
            .await;
        match outcome {
            Ok(done) => done,
            Err(export) => Err(format!("export: {}", export.message())),
        }
    }
}
