//! The person's own data: exports (JSON, streamed, FHIR) and deletion.

use futures::StreamExt;
use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::{Res, Session};
use crate::convert;
use crate::domain::validate::Violations;
use crate::domain::{checkin, fhir, time};
use crate::error::Error;

/// ExportUserData.
pub(super) async fn export_user_data(
    svc: &Session,
    req: Request<pb::ExportUserDataRequest>,
) -> Res<pb::ExportUserDataResponse> {
    let user = svc.user(&req)?;
    let data = svc.store.export(&user).await?;
    let catalog = svc.catalog.get().ok();
    Ok(Response::new(pb::ExportUserDataResponse {
        export: Some(convert::export(&data, catalog.as_deref(), Timestamp::now())),
    }))
}

/// StreamExportUserData.
pub(super) async fn stream_export_user_data(
    svc: &Session,
    req: Request<pb::StreamExportUserDataRequest>,
) -> Res<crate::transfer::Boxed<pb::StreamExportUserDataResponse>> {
    let user = svc.user(&req)?;
    let parts = crate::transfer::export(&svc.store, svc.catalog.clone(), &user, true);
    Ok(Response::new(Box::pin(parts.map(|p| {
        p.map(|part| pb::StreamExportUserDataResponse { part: Some(part) })
    }))))
}

/// DeleteUserData.
pub(super) async fn delete_user_data(
    svc: &Session,
    req: Request<pb::DeleteUserDataRequest>,
) -> Res<pb::DeleteUserDataResponse> {
    let user = svc.user(&req)?;
    if !req.get_ref().confirm {
        return Err(Error::field("confirm", "must be true: deletion cannot be undone").into());
    }
    let (sessions, guided) = svc.store.delete_user(&user).await?;
    tracing::info!(sessions, guided, "user data deleted");
    Ok(Response::new(pb::DeleteUserDataResponse {
        sessions_deleted: i64::try_from(sessions).unwrap_or(i64::MAX),
        guided_sessions_deleted: i64::try_from(guided).unwrap_or(i64::MAX),
    }))
}

/// ExportFhirBundle.
pub(super) async fn export_fhir_bundle(
    svc: &Session,
    req: Request<pb::ExportFhirBundleRequest>,
) -> Res<pb::ExportFhirBundleResponse> {
    let user = svc.user(&req)?;
    let r = req.into_inner();
    let mut v = Violations::default();
    let (start, end) = checkin::date_fields(&r.start_date, &r.end_date, &mut v);
    v.finish(()).map_err(Error::InvalidArgument)?;
    let now = Timestamp::now();
    let (tz, _) = svc.zone(&user).await?;
    let range = checkin::range(start, end, time::local_date(now, &tz))
        .map_err(|e| Error::field(e.field, e.description))?;
    let check_ins = if r.omit_check_ins {
        Vec::new()
    } else {
        svc.store.check_ins(&user, range.0, range.1).await?
    };
    let sessions: Vec<_> = if r.omit_sessions {
        Vec::new()
    } else {
        svc.store
            .all_sessions(&user)
            .await?
            .into_iter()
            .filter(|s| (range.0..=range.1).contains(&s.local_date))
            .collect()
    };
    // Names make the report readable; ids stand in when the catalog is
    // not loaded.
    let catalog = svc.catalog.get().ok();
    let regions = catalog
        .as_ref()
        .map(|c| c.regions.clone())
        .unwrap_or_default();
    let points = catalog
        .as_ref()
        .map(|c| {
            c.points
                .iter()
                .map(|(id, p)| (id.clone(), p.display_name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let bundle = fhir::bundle(&fhir::ReportInput {
        user: &user,
        range,
        check_ins: &check_ins,
        sessions: &sessions,
        regions: &regions,
        points: &points,
        now,
    });
    Ok(Response::new(pb::ExportFhirBundleResponse {
        bundle_json: bundle.to_string(),
        observations: i32::try_from(check_ins.len()).unwrap_or(i32::MAX),
        procedures: i32::try_from(sessions.len()).unwrap_or(i32::MAX),
    }))
}
