//! SessionAdminService: the operator's calls (users, export and import,
//! backup, deletion, the shard map), each checking the internal credential.

use futures::StreamExt;
use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use knotwork_proto::session::v1::session_admin_service_server::SessionAdminService;
use tonic::{Request, Response};

use super::{Res, Session};
use super::{page_size, rid};
use crate::convert;
use crate::error::Error;

/// The most users one filtered ListUsers call looks at.
const BUCKET_SCAN: usize = 100_000;

impl Session {
    /// ListUsers filtered by shard map bucket: scans up to [`BUCKET_SCAN`]
    /// users per call; the token is the last user looked at.
    async fn list_users_in(
        &self,
        buckets: &[u32],
        mut after: Option<String>,
        limit: usize,
    ) -> Result<pb::ListUsersResponse, Error> {
        use knotwork_runtime::shardmap::{BUCKETS, bucket_of};
        let mut wanted = [false; BUCKETS];
        for &b in buckets {
            let slot = usize::try_from(b)
                .ok()
                .and_then(|b| wanted.get_mut(b))
                .ok_or_else(|| Error::field("buckets", "each bucket is 0-255"))?;
            *slot = true;
        }
        let mut user_ids = Vec::new();
        let mut scanned = 0;
        loop {
            let (page, more) = self.store.list_users(after.clone(), 1000).await?;
            scanned += page.len();
            for user in page {
                let hit = wanted[bucket_of(&user)];
                after = Some(user.clone());
                if hit {
                    user_ids.push(user);
                    if user_ids.len() == limit {
                        break;
                    }
                }
            }
            let full = user_ids.len() == limit;
            let done = !more && !full;
            if done {
                after = None;
            }
            if done || full || scanned >= BUCKET_SCAN {
                return Ok(pb::ListUsersResponse {
                    user_ids,
                    next_page_token: after.unwrap_or_default(),
                });
            }
        }
    }
}

#[tonic::async_trait]
impl SessionAdminService for Session {
    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_users(&self, req: Request<pb::ListUsersRequest>) -> Res<pb::ListUsersResponse> {
        self.admin(&req)?;
        let r = req.into_inner();
        let limit = page_size(r.page_size, 100, 1000)?;
        let after = (!r.page_token.is_empty()).then_some(r.page_token);
        if !r.buckets.is_empty() {
            return Ok(Response::new(
                self.list_users_in(&r.buckets, after, limit).await?,
            ));
        }
        let (user_ids, more) = self.store.list_users(after, limit).await?;
        let next_page_token = match user_ids.last() {
            Some(last) if more => last.clone(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListUsersResponse {
            user_ids,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_user(
        &self,
        req: Request<pb::ExportUserRequest>,
    ) -> Res<pb::ExportUserResponse> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let data = self.store.export(user).await?;
        if data.profile.is_none()
            && data.screening.is_none()
            && data.sessions.is_empty()
            && data.guided_sessions.is_empty()
            && data.request_ids.is_empty()
        {
            return Err(Error::NotFound(format!("user {user}")).into());
        }
        let catalog = self.catalog.get().ok();
        Ok(Response::new(pb::ExportUserResponse {
            export: Some(convert::export(&data, catalog.as_deref(), Timestamp::now())),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn import_user(
        &self,
        req: Request<pb::ImportUserRequest>,
    ) -> Res<pb::ImportUserResponse> {
        self.admin(&req)?;
        let export = req
            .get_ref()
            .export
            .as_ref()
            .ok_or_else(|| Error::field("export", "required"))?;
        let data = convert::import(export)?;
        let n = self.store.import_user(data).await?;
        Ok(Response::new(pb::ImportUserResponse {
            sessions_imported: i64::try_from(n).unwrap_or(i64::MAX),
        }))
    }

    type StreamExportUserStream = crate::transfer::Boxed<pb::StreamExportUserResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_export_user(
        &self,
        req: Request<pb::StreamExportUserRequest>,
    ) -> Res<Self::StreamExportUserStream> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let parts = crate::transfer::export(&self.store, self.catalog.clone(), user, false);
        Ok(Response::new(Box::pin(parts.map(|p| {
            p.map(|part| pb::StreamExportUserResponse { part: Some(part) })
        }))))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_import_user(
        &self,
        req: Request<tonic::Streaming<pb::StreamImportUserRequest>>,
    ) -> Res<pb::StreamImportUserResponse> {
        self.admin(&req)?;
        let (sessions, parts) =
            crate::transfer::import(self.store.clone(), req.into_inner()).await?;
        tracing::info!(sessions, parts, "user imported");
        Ok(Response::new(pb::StreamImportUserResponse {
            sessions_imported: i64::try_from(sessions).unwrap_or(i64::MAX),
            parts: i64::try_from(parts).unwrap_or(i64::MAX),
        }))
    }

    type BackupStream = crate::transfer::Boxed<pb::BackupResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn backup(&self, req: Request<pb::BackupRequest>) -> Res<Self::BackupStream> {
        self.admin(&req)?;
        tracing::info!("backup started");
        Ok(Response::new(crate::transfer::backup(&self.store)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_user(
        &self,
        req: Request<pb::DeleteUserRequest>,
    ) -> Res<pb::DeleteUserResponse> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let (sessions, _) = self.store.delete_user(user).await?;
        Ok(Response::new(pb::DeleteUserResponse {
            sessions_deleted: i64::try_from(sessions).unwrap_or(i64::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_shard_map(
        &self,
        req: Request<pb::GetShardMapRequest>,
    ) -> Res<pb::GetShardMapResponse> {
        self.admin(&req)?;
        Ok(Response::new(pb::GetShardMapResponse {
            shard_id: self.ownership.id().to_owned(),
            map: self.ownership.map().map(|m| (*m).clone()),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn set_shard_map(
        &self,
        req: Request<pb::SetShardMapRequest>,
    ) -> Res<pb::SetShardMapResponse> {
        self.admin(&req)?;
        let map = req
            .into_inner()
            .map
            .ok_or_else(|| Error::field("map", "required"))?;
        let held = self.ownership.set(map).await?;
        Ok(Response::new(pb::SetShardMapResponse {
            map: Some((*held).clone()),
        }))
    }
}
