//! Request validation: the first byte picks a public method, the rest is
//! decoded as its request message with prost (as the servers' codec does)
//! and answered by the real handler: the catalog's `CatalogApi` over the
//! built-in catalog, the session's `Session` over a scratch store, and the
//! gateway's ViewService checks followed by the catalog call they lead to.
//!
//! A bug is: a panic, bytes that fail to decode without INVALID_ARGUMENT, a
//! handler answering INTERNAL, UNKNOWN or DATA_LOSS (bad input must be
//! refused as bad input), or INVALID_ARGUMENT without field violations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use knotwork_catalog::service::CatalogApi;
use knotwork_catalog::state::{CatalogSource, Catalogs};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_server::CatalogService;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_server::SessionService;
use knotwork_runtime::internal::InternalAuth;
use knotwork_session::service::Session;
use prost::Message;
use tonic::{Code, Request, Status};

const TOKEN: &str = "fuzz-internal-credential";
const USER: &str = "fuzz-user";

/// The services under test, built once per process.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    catalog: CatalogApi,
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
            CatalogApi::new(catalogs),
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

macro_rules! methods {
    ($( $svc:ident $wrap:ident $method:ident($ty:ty) ),* $(,)?) => {
        /// The public methods, in the order the first byte picks them.
        pub const METHODS: &[&str] = &[$(stringify!($method)),*];

        fn dispatch(h: &Harness, pick: usize, bytes: &[u8]) -> Answer {
            let mut i = 0usize;
            $(
                if pick == i {
                    let m = <$ty>::decode(bytes).map_err(knotwork_proto::codec::decode_error)?;
                    return h.rt.block_on(h.$svc.$method($wrap(m))).map(|_| ());
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
}

fn plain<T>(m: T) -> Request<T> {
    Request::new(m)
}

methods! {
    catalog plain get_catalog_version(cat::GetCatalogVersionRequest),
    catalog plain get_catalog_snapshot(cat::GetCatalogSnapshotRequest),
    catalog plain find_by_pain(cat::FindByPainRequest),
    catalog plain search(cat::SearchRequest),
    catalog plain get_region(cat::GetRegionRequest),
    catalog plain list_regions(cat::ListRegionsRequest),
    catalog plain get_muscle(cat::GetMuscleRequest),
    catalog plain list_muscles(cat::ListMusclesRequest),
    catalog plain get_trigger_point(cat::GetTriggerPointRequest),
    catalog plain batch_get_trigger_points(cat::BatchGetTriggerPointsRequest),
    catalog plain list_trigger_points(cat::ListTriggerPointsRequest),
    catalog plain get_tool(cat::GetToolRequest),
    catalog plain list_tools(cat::ListToolsRequest),
    catalog plain list_recommended_tools(cat::ListRecommendedToolsRequest),
    catalog plain list_symptoms(cat::ListSymptomsRequest),
    catalog plain get_technique_guidance(cat::GetTechniqueGuidanceRequest),
    catalog plain list_contraindications(cat::ListContraindicationsRequest),
    catalog plain list_red_flags(cat::ListRedFlagsRequest),
    catalog plain list_sources(cat::ListSourcesRequest),
    catalog plain list_guides(cat::ListGuidesRequest),
    catalog plain get_guide(cat::GetGuideRequest),
    session internal get_profile(ses::GetProfileRequest),
    session internal update_profile(ses::UpdateProfileRequest),
    session internal get_screening(ses::GetScreeningRequest),
    session internal submit_screening(ses::SubmitScreeningRequest),
    session internal start_guided_session(ses::StartGuidedSessionRequest),
    session internal guide_session(ses::GuideSessionRequest),
    session internal log_session(ses::LogSessionRequest),
    session internal batch_log_sessions(ses::BatchLogSessionsRequest),
    session internal get_session(ses::GetSessionRequest),
    session internal list_sessions(ses::ListSessionsRequest),
    session internal list_progress(ses::ListProgressRequest),
    session internal get_day(ses::GetDayRequest),
    session internal export_user_data(ses::ExportUserDataRequest),
    session internal delete_user_data(ses::DeleteUserDataRequest),
    // Added later, at the end, so the corpus keeps picking the same methods.
    catalog plain get_body_map(cat::GetBodyMapRequest),
    catalog plain get_trigger_point_picture(cat::GetTriggerPointPictureRequest),
    session internal record_check_in(ses::RecordCheckInRequest),
    session internal list_check_ins(ses::ListCheckInsRequest),
    session internal list_region_progress(ses::ListRegionProgressRequest),
    session internal export_fhir_bundle(ses::ExportFhirBundleRequest),
}

/// ViewService.GetReliefPlan: the gateway's checks, then the FindByPain
/// call they produce, answered by the catalog.
fn relief_plan(h: &Harness, m: gw::GetReliefPlanRequest) -> Answer {
    let (pain, _max) = knotwork_gateway::service::relief_plan_query(m).map_err(Status::from)?;
    h.rt.block_on(h.catalog.find_by_pain(plain(pain)))
        .map(|_| ())
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
