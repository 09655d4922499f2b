//! The Raft network between the replicas of one shard group: the
//! `knotwork.session.raft.v1.RaftService` server every replica serves on its
//! session port ([`RaftServer`]), and the client openraft calls the other
//! members with ([`GrpcNetwork`]).
//!
//! The messages are openraft's own types as JSON in `bytes` fields (a
//! snapshot chunk's data travels raw); the answer is openraft's `Result`,
//! so a remote Raft error (a snapshot mismatch, a stopped replica) reaches
//! the caller's openraft as it was raised. Every call carries the internal
//! credential (checked before anything is decoded), runs over the backend
//! TLS settings (mTLS when a client certificate is configured) and has a
//! deadline: openraft's hard TTL for the call, both as `grpc-timeout` and
//! as a local timer, so a stopped peer never holds a replication stream.
//!
//! A group of one uses [`NoNetwork`]: nobody to call.

use std::time::Duration;

use knotwork_proto::metadata::INTERNAL_TOKEN;
use knotwork_proto::session::raft::v1 as pb;
use knotwork_proto::session::raft::v1::raft_service_client::RaftServiceClient;
use knotwork_runtime::internal::InternalAuth;
use knotwork_runtime::tls::BackendTls;
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::store::replica::{NodeId, Raft, TypeConfig};

/// The largest Raft message accepted or sent: 64 entries of up to 512
/// writes each, or a snapshot chunk (3 MiB by default).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long dialling a member may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The wait after an unreachable member before openraft calls it again.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(200);

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, BasicNode, E>>;

/// Calls the other members over gRPC at their `BasicNode::addr` (the
/// members' session URLs from `KNOTWORK_SESSION_RAFT_MEMBERS`).
#[derive(Clone)]
pub struct GrpcNetwork {
    tls: BackendTls,
    token: AsciiMetadataValue,
}

impl GrpcNetwork {
    /// A network presenting `token` (the internal credential) over `tls`.
    pub fn new(tls: BackendTls, token: &str) -> Result<Self, String> {
        let token = token
            .parse()
            .map_err(|_| "the internal credential is not valid metadata".to_owned())?;
        Ok(Self { tls, token })
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        let client = self
            .tls
            .endpoint(&node.addr)
            .map(|e| {
                let channel = e
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(10))
                    .keep_alive_timeout(Duration::from_secs(5))
                    .connect_lazy();
                RaftServiceClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
            })
            .map_err(|e| e.to_string());
        if let Err(e) = &client {
            tracing::error!(target, addr = %node.addr, error = %e, "raft member address unusable");
        }
        Connection {
            target,
            client,
            token: self.token.clone(),
        }
    }
}

/// The connection to one member.
pub struct Connection {
    target: NodeId,
    client: Result<RaftServiceClient<Channel>, String>,
    token: AsciiMetadataValue,
}

fn unreachable<E: std::error::Error + 'static>(e: &E) -> Unreachable {
    Unreachable::new(e)
}

impl Connection {
    /// Calls one method with the credential and a deadline; decodes
    /// openraft's result.
    async fn call<Req, Resp, E, F, Fut>(
        &mut self,
        msg: Req,
        ttl: Duration,
        f: F,
    ) -> RpcResult<Resp, E>
    where
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
        F: FnOnce(RaftServiceClient<Channel>, Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, Status>>,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => {
                return Err(RPCError::Unreachable(unreachable(&std::io::Error::other(
                    e.clone(),
                ))));
            }
        };
        let mut req = Request::new(msg);
        req.metadata_mut()
            .insert(INTERNAL_TOKEN, self.token.clone());
        req.set_timeout(ttl);
        let bytes = match tokio::time::timeout(ttl, f(client, req)).await {
            Err(_) => {
                return Err(RPCError::Network(NetworkError::new(&std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("raft member {} did not answer within {ttl:?}", self.target),
                ))));
            }
            Ok(Ok(bytes)) => bytes,
            // Made locally (no connection) or a member that is not serving
            // yet: back off before the next call.
            Ok(Err(status))
                if std::error::Error::source(&status).is_some()
                    || status.code() == tonic::Code::Unavailable =>
            {
                return Err(RPCError::Unreachable(unreachable(&status)));
            }
            Ok(Err(status)) => return Err(RPCError::Network(NetworkError::new(&status))),
        };
        match serde_json::from_slice::<Result<Resp, E>>(&bytes) {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, NetworkError> {
    serde_json::to_vec(v).map_err(|e| NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let request = encode(&rpc).map_err(RPCError::Network)?;
        self.call(
            pb::AppendEntriesRequest { request },
            option.hard_ttl(),
            |mut c, r| async move { Ok(c.append_entries(r).await?.into_inner().result) },
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let data = std::mem::take(&mut rpc.data);
        let request = encode(&rpc).map_err(RPCError::Network)?;
        self.call(
            pb::InstallSnapshotRequest { request, data },
            option.hard_ttl(),
            |mut c, r| async move { Ok(c.install_snapshot(r).await?.into_inner().result) },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let request = encode(&rpc).map_err(RPCError::Network)?;
        self.call(
            pb::VoteRequest { request },
            option.hard_ttl(),
            |mut c, r| async move { Ok(c.vote(r).await?.into_inner().result) },
        )
        .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}

/// Serves `RaftService`: hands each message to this replica's Raft.
#[derive(Clone)]
pub struct RaftServer {
    raft: Raft,
    auth: InternalAuth,
}

impl RaftServer {
    /// The server of `raft`, accepting callers holding `auth`'s credential.
    pub fn new(raft: Raft, auth: InternalAuth) -> Self {
        Self { raft, auth }
    }

    /// The tonic service, with the message limits Raft needs.
    pub fn into_service(self) -> pb::raft_service_server::RaftServiceServer<Self> {
        pb::raft_service_server::RaftServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(bytes)
        .map_err(|e| Status::invalid_argument(format!("not an openraft message: {e}")))
}

fn answer<T: serde::Serialize>(result: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(result).map_err(|e| {
        tracing::error!(error = %e, "encoding a raft answer");
        Status::internal("internal error")
    })
}

#[tonic::async_trait]
impl pb::raft_service_server::RaftService for RaftServer {
    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        self.auth.verify(request.metadata())?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(&request.get_ref().request)?;
        let result = self.raft.append_entries(rpc).await;
        Ok(Response::new(pb::AppendEntriesResponse {
            result: answer(&result)?,
        }))
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        self.auth.verify(request.metadata())?;
        let rpc: VoteRequest<NodeId> = decode(&request.get_ref().request)?;
        let result = self.raft.vote(rpc).await;
        Ok(Response::new(pb::VoteResponse {
            result: answer(&result)?,
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        self.auth.verify(request.metadata())?;
        let msg = request.into_inner();
        let mut rpc: InstallSnapshotRequest<TypeConfig> = decode(&msg.request)?;
        rpc.data = msg.data;
        let result = self.raft.install_snapshot(rpc).await;
        Ok(Response::new(pb::InstallSnapshotResponse {
            result: answer(&result)?,
        }))
    }
}

/// A network for a group of one: there is nobody to call.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

/// The (never used) connection of [`NoNetwork`].
#[derive(Debug, Clone, Copy)]
pub struct NoConnection(NodeId);

fn alone(target: NodeId) -> Unreachable {
    Unreachable::new(&std::io::Error::other(format!(
        "node {target} is not reachable from a group of one"
    )))
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoConnection;
    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> NoConnection {
        NoConnection(target)
    }
}

impl RaftNetwork<TypeConfig> for NoConnection {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        Err(RPCError::Unreachable(alone(self.0)))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        Err(RPCError::Unreachable(alone(self.0)))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        Err(RPCError::Unreachable(alone(self.0)))
    }
}
