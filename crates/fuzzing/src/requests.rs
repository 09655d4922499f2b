//! Request validation: the first byte picks a public method, the rest is
//! its request message. Catalog methods go, framed as gRPC, through the
//! catalog's `CatalogServer` over the built-in catalog: the path production
//! serves (the shared codec decodes, the hot reads answer from encoded
//! bytes, the rest from the typed handlers). Session methods are decoded
//! with the servers' codec rules and answered by the session's `Session`
//! over a scratch store; ViewService's GetReliefPlan runs the gateway's
//! checks and sends the FindByPain call they lead to through
//! `CatalogServer`.
//!
//! A bug is: a panic, bytes that fail to decode without INVALID_ARGUMENT, a
//! handler answering INTERNAL, UNKNOWN or DATA_LOSS (bad input must be
//! refused as bad input), or INVALID_ARGUMENT without field violations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use knotwork_catalog::server::CatalogServer;
use knotwork_catalog::state::{CatalogSource, Catalogs};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::names::CATALOG_SERVICE;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_server::SessionService;
use knotwork_runtime::internal::InternalAuth;
use knotwork_session::service::Session;
use prost::Message;
use tonic::codegen::Service as _;
use tonic::{Code, Request, Status};

const TOKEN: &str = "fuzz-internal-credential";
const USER: &str = "fuzz-user";

/// The services under test, built once per process.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    catalog: CatalogServer,
    session: Session,
    /// A real trigger point and one of its tools, for seeds.
    pub point_and_tool: (String, String),
    /// The screening conditions' names, for a screening seed.
    pub contraindications: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The process's harness (scratch stores in a temporary folder; on Linux
/// in `/dev/shm` so durable commits stay cheap).
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| match build() {
        Ok(h) => h,
        Err(e) => panic!("fuzz harness: {e}"),
    })
}

fn scratch_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    // libFuzzer exits without running destructors: remove what earlier,
    // finished processes left behind.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("knotwork-fuzz-")
                .and_then(|r| r.split('.').next())
                && !Path::new("/proc").join(pid).exists()
                && Path::new("/proc/self").exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    base
}

fn build() -> Result<Harness, String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("knotwork-fuzz-{}.", std::process::id()))
        .tempdir_in(scratch_base())
        .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (catalog, session, point_and_tool, contraindications) = rt.block_on(async {
        let cat_dir = dir.path().join("catalog");
        let store = knotwork_catalog::store::Store::open(&cat_dir)
            .await
            .map_err(|e| e.to_string())?;
        let catalogs = Arc::new(
            Catalogs::start(CatalogSource::Embedded, store)
                .await
                .map_err(|e| e.to_string())?,
        );
        let loaded = catalogs.current();
        let view = knotwork_session::convert::catalog_view(loaded.pb.snapshot.clone())?;
        let point = loaded
            .pb
            .points
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let tool = loaded
            .pb
            .tools
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let contraindications = loaded
            .pb
            .contraindications
            .iter()
            .filter(|c| c.kind == cat::ContraindicationKind::Condition as i32)
            .map(|c| c.name.clone())
            .collect::<Vec<_>>();
        let store = knotwork_session::store::Store::open(
            &dir.path().join("session"),
            knotwork_session::store::StoreOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let session = Session::new(
            Arc::new(store),
            knotwork_session::catalog::Catalog::fixed(view),
            InternalAuth::new(TOKEN),
            1,
        );
        Ok::<_, String>((
            CatalogServer::new(catalogs, Some(tonic::codec::CompressionEncoding::Gzip)),
            session,
            (point, tool),
            contraindications,
        ))
    })?;
    Ok(Harness {
        rt,
        catalog,
        session,
        point_and_tool,
        contraindications,
        _dir: dir,
    })
}

/// A request as the gateway sends it to a backend.
fn internal<T>(m: T) -> Request<T> {
    let mut r = Request::new(m);
    r.metadata_mut().insert(
        INTERNAL_TOKEN,
        tonic::metadata::MetadataValue::from_static(TOKEN),
    );
    r.metadata_mut()
        .insert(USER_ID, tonic::metadata::MetadataValue::from_static(USER));
    r
}

/// What a handler (or the decoder) said.
pub type Answer = Result<(), Status>;

/// Calls `method` (`GetTriggerPoint`) of the catalog's `CatalogServer`
/// with `message` as the request's encoded message, framed as a client
/// frames it, and reads the status from the headers or the trailers.
fn catalog_call(h: &Harness, method: &str, message: &[u8]) -> Answer {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend(
        u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(message);
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("/{CATALOG_SERVICE}/{method}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(http_body_util::Full::new(Bytes::from(frame)))
        .map_err(|e| Status::internal(format!("fuzz harness request: {e}")))?;
    let mut server = h.catalog.clone();
    h.rt.block_on(async move {
        let Ok(response) = server.call(request).await;
        let (parts, body) = response.into_parts();
        let status = match Status::from_header_map(&parts.headers) {
            Some(s) => s,
            None => {
                let body = body
                    .collect()
                    .await
                    .map_err(|e| Status::internal(format!("response body: {e}")))?;
                let trailers = body.trailers().cloned().unwrap_or_default();
                Status::from_header_map(&trailers)
                    .ok_or_else(|| Status::internal("a reply without grpc-status"))?
            }
        };
        match status.code() {
            Code::Ok => Ok(()),
            _ => Err(status),
        }
    })
}

/// `get_trigger_point` -> `GetTriggerPoint`.
fn method_name(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

macro_rules! methods {
    ($( $svc:ident $method:ident($ty:ty) ),* $(,)?) => {
        /// The public methods, in the order the first byte picks them.
        pub const METHODS: &[&str] = &[$(stringify!($method)),*];

        fn dispatch(h: &Harness, pick: usize, bytes: &[u8]) -> Answer {
            let mut i = 0usize;
            $(
                if pick == i {
                    return methods!(@call $svc h $method bytes $ty);
                }
                #[allow(unused_assignments)]
                { i += 1; }
            )*
            let _ = i;
            match gw::GetReliefPlanRequest::decode(bytes) {
                Err(e) => Err(knotwork_proto::codec::decode_error(e)),
                Ok(m) => relief_plan(h, m),
            }
        }

        /// Encodes `m` as an input that picks `method`.
        pub fn input<M: prost::Message>(method: &str, m: &M) -> Vec<u8> {
            let pick = METHODS.iter().position(|n| *n == method).unwrap_or(METHODS.len());
            let mut out = vec![u8::try_from(pick).unwrap_or(u8::MAX)];
            out.extend(m.encode_to_vec());
            out
        }
    };
    (@call catalog $h:ident $method:ident $bytes:ident $ty:ty) => {
        catalog_call($h, &method_name(stringify!($method)), $bytes)
    };
    (@call session $h:ident $method:ident $bytes:ident $ty:ty) => {{
        let m = <$ty>::decode($bytes).map_err(knotwork_proto::codec::decode_error)?;
        $h.rt.block_on($h.session.$method(internal(m))).map(|_| ())
    }};
}

methods! {
    catalog get_catalog_version(cat::GetCatalogVersionRequest),
    catalog get_catalog_snapshot(cat::GetCatalogSnapshotRequest),
    catalog find_by_pain(cat::FindByPainRequest),
    catalog search(cat::SearchRequest),
    catalog get_region(cat::GetRegionRequest),
    catalog list_regions(cat::ListRegionsRequest),
    catalog get_muscle(cat::GetMuscleRequest),
    catalog list_muscles(cat::ListMusclesRequest),
    catalog get_trigger_point(cat::GetTriggerPointRequest),
    catalog batch_get_trigger_points(cat::BatchGetTriggerPointsRequest),
    catalog list_trigger_points(cat::ListTriggerPointsRequest),
    catalog get_tool(cat::GetToolRequest),
    catalog list_tools(cat::ListToolsRequest),
    catalog list_recommended_tools(cat::ListRecommendedToolsRequest),
    catalog list_symptoms(cat::ListSymptomsRequest),
    catalog get_technique_guidance(cat::GetTechniqueGuidanceRequest),
    catalog list_contraindications(cat::ListContraindicationsRequest),
    catalog list_red_flags(cat::ListRedFlagsRequest),
    catalog list_sources(cat::ListSourcesRequest),
    catalog list_guides(cat::ListGuidesRequest),
    catalog get_guide(cat::GetGuideRequest),
    session get_profile(ses::GetProfileRequest),
    session update_profile(ses::UpdateProfileRequest),
    session get_screening(ses::GetScreeningRequest),
    session submit_screening(ses::SubmitScreeningRequest),
    session start_guided_session(ses::StartGuidedSessionRequest),
    session guide_session(ses::GuideSessionRequest),
    session log_session(ses::LogSessionRequest),
    session batch_log_sessions(ses::BatchLogSessionsRequest),
    session get_session(ses::GetSessionRequest),
    session list_sessions(ses::ListSessionsRequest),
    session list_progress(ses::ListProgressRequest),
    session get_day(ses::GetDayRequest),
    session export_user_data(ses::ExportUserDataRequest),
    session delete_user_data(ses::DeleteUserDataRequest),
    // Added later, at the end, so the corpus keeps picking the same methods.
    catalog get_body_map(cat::GetBodyMapRequest),
    catalog get_trigger_point_picture(cat::GetTriggerPointPictureRequest),
    session record_check_in(ses::RecordCheckInRequest),
    session list_check_ins(ses::ListCheckInsRequest),
    session list_region_progress(ses::ListRegionProgressRequest),
    session export_fhir_bundle(ses::ExportFhirBundleRequest),
}

/// ViewService.GetReliefPlan: the gateway's checks, then the FindByPain
/// call they produce, answered by the catalog.
fn relief_plan(h: &Harness, m: gw::GetReliefPlanRequest) -> Answer {
    let (pain, _max) = knotwork_gateway::service::relief_plan_query(m).map_err(Status::from)?;
    catalog_call(h, "FindByPain", &pain.encode_to_vec())
}

/// The method an input picks and what it was answered.
pub fn answer(data: &[u8]) -> Option<(&'static str, Answer)> {
    let (&pick, bytes) = data.split_first()?;
    let pick = usize::from(pick) % (METHODS.len() + 1);
    let name = METHODS.get(pick).copied().unwrap_or("get_relief_plan");
    Some((name, dispatch(harness(), pick, bytes)))
}

/// Checks one input.
pub fn run(data: &[u8]) {
    if let Some((name, Err(s))) = answer(data) {
        check(name, &s);
    }
}

fn check(method: &str, s: &Status) {
    assert!(
        !matches!(s.code(), Code::Internal | Code::Unknown | Code::DataLoss),
        "{method}: bad input answered {:?}: {}",
        s.code(),
        s.message()
    );
    if s.code() == Code::InvalidArgument {
        let decode = s.message().starts_with("the message could not be decoded");
        assert!(
            decode || !s.details().is_empty(),
            "{method}: INVALID_ARGUMENT without field violations: {}",
            s.message()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(method: &str, m: &impl Message) -> Result<(), (Code, usize)> {
        let (_, a) = answer(&input(method, m)).expect("an input");
        a.map_err(|s| (s.code(), s.details().len()))
    }

    /// The catalog inputs reach the served handlers: a good call is OK, a
    /// bad name is INVALID_ARGUMENT with its violation, an unknown one
    /// NOT_FOUND, and bytes that do not decode are refused by the codec.
    #[test]
    fn catalog_inputs_reach_the_served_path() {
        let point = harness().point_and_tool.0.clone();
        let get = |name: &str| cat::GetTriggerPointRequest { name: name.into() };
        assert_eq!(code("get_trigger_point", &get(&point)), Ok(()));
        assert_eq!(
            code(
                "get_trigger_point_picture",
                &cat::GetTriggerPointPictureRequest {
                    name: point.clone(),
                    side: 0,
                }
            ),
            Ok(())
        );
        assert!(matches!(
            code("get_trigger_point", &get("muscles/x")),
            Err((Code::InvalidArgument, n)) if n > 0
        ));
        assert!(matches!(
            code("get_trigger_point", &get("triggerPoints/no_such_point")),
            Err((Code::NotFound, _))
        ));
        assert!(matches!(
            code("list_regions", &cat::ListRegionsRequest::default()),
            Ok(())
        ));
        let pick = METHODS
            .iter()
            .position(|m| *m == "find_by_pain")
            .expect("listed");
        let undecodable = [u8::try_from(pick).expect("small"), 0x0a, 0x05, 0xff];
        let (_, a) = answer(&undecodable).expect("an input");
        let s = a.expect_err("truncated message");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message().starts_with("the message could not be decoded"),
            "{}",
            s.message()
        );
    }
}
