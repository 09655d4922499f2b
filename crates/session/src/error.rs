//! The session service's one error type and its one mapping to gRPC statuses.

use knotwork_proto::metadata::ERROR_DOMAIN;
use knotwork_runtime::bounded;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::quota::QuotaViolation;
use crate::domain::{FieldViolation, Refusal};

/// `ErrorInfo` reason: a request id was reused with a different request.
pub const REASON_REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";

/// `ErrorInfo` reason: a write would pass the per-user quota.
pub const REASON_QUOTA_EXCEEDED: &str = "QUOTA_EXCEEDED";

/// `ErrorInfo` reason: SetShardMap sent an older epoch than the one held.
pub const REASON_STALE_SHARD_MAP: &str = "STALE_SHARD_MAP";

/// `ErrorInfo` reason: SetShardMap sent the held epoch with other content.
pub const REASON_SHARD_MAP_CONFLICT: &str = "SHARD_MAP_CONFLICT";

/// Everything that can go wrong in the session service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request has invalid fields; nothing was stored.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// A request id came back with a different request (names the field);
    /// the first record is untouched.
    #[error("{0} was used before for a different request")]
    RequestIdReused(String),
    /// The write would take the user past the quota (RESOURCE_EXHAUSTED
    /// with `google.rpc.QuotaFailure`); nothing was stored.
    #[error("quota exceeded: {}", .0.description)]
    QuotaExceeded(QuotaViolation),
    /// A streamed import ended without its last part; what it wrote was
    /// removed again (ABORTED).
    #[error("aborted: {0}")]
    Aborted(String),
    /// The named resource does not exist for this user.
    #[error("{0} not found")]
    NotFound(String),
    /// A safety rule refuses the request (FAILED_PRECONDITION).
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// A shard map change was refused (FAILED_PRECONDITION with `reason`).
    #[error("{message}")]
    ShardMap {
        /// The `ErrorInfo` reason.
        reason: &'static str,
        /// What the shard holds.
        message: String,
    },
    /// A dependency is not ready (the catalog has not been loaded yet).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// This replica is not its group's leader (UNAVAILABLE with
    /// `NOT_LEADER` naming the leader, so the caller retries there).
    #[error("not the leader (leader {leader_id:?} at {leader_address:?})")]
    NotLeader {
        /// The leader's node id, when known.
        leader_id: Option<u64>,
        /// The leader's address (its session endpoint), when known.
        leader_address: Option<String>,
    },
    /// Storage failed; the detail is logged, never sent to clients.
    #[error("storage: {0}")]
    Storage(String),
    /// Startup failed: the listener, the data folder or the server.
    #[error("startup: {0}")]
    Startup(String),
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A single field violation.
    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

/// `From` conversions that turn each named error type into
/// [`Error::Storage`] (its text is logged, never sent).
macro_rules! storage_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for $crate::error::Error {
            fn from(e: $t) -> Self {
                Self::Storage(e.to_string())
            }
        }
    )*};
}
pub(crate) use storage_from;

// Storage's own errors (redb's) are converted inside `store/`.
storage_from!(serde_json::Error);

impl From<Error> for Status {
    /// The mapping table; every status leaves bounded
    /// (`knotwork_runtime::bounded`): echoed names cut, at most 20 field
    /// violations, message and details within their limits.
    fn from(e: Error) -> Self {
        bounded::bounded(status(e))
    }
}

fn status(e: Error) -> Status {
    match e {
        Error::InvalidArgument(violations) => {
            bounded::invalid_argument(violations.iter().map(|v| (&v.field, &v.description)))
        }
        Error::RequestIdReused(field) => {
            let mut details = ErrorDetails::with_bad_request_violation(
                bounded::cut_name(&field),
                "was used before for a different request",
            );
            details.set_error_info(REASON_REQUEST_ID_REUSED, ERROR_DOMAIN, []);
            Status::with_error_details(
                Code::InvalidArgument,
                format!(
                    "{} was used before for a different request; send a new request id \
                     (the first request's result is unchanged)",
                    bounded::cut_name(&field)
                ),
                details,
            )
        }
        Error::NotFound(what) => bounded::not_found(&what),
        Error::Refused(r) => {
            let details = ErrorDetails::with_error_info(
                r.reason.as_str(),
                ERROR_DOMAIN,
                r.metadata
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
            Status::with_error_details(Code::FailedPrecondition, r.message, details)
        }
        Error::QuotaExceeded(v) => {
            let mut details =
                ErrorDetails::with_quota_failure_violation(v.subject, v.description.clone());
            details.set_error_info(REASON_QUOTA_EXCEEDED, ERROR_DOMAIN, []);
            Status::with_error_details(
                Code::ResourceExhausted,
                format!("quota exceeded: {}", v.description),
                details,
            )
        }
        Error::ShardMap { reason, message } => Status::with_error_details(
            Code::FailedPrecondition,
            message,
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, []),
        ),
        Error::Aborted(why) => Status::aborted(why),
        Error::Unavailable(what) => Status::unavailable(what),
        Error::NotLeader {
            leader_id,
            leader_address,
        } => knotwork_runtime::shardmap::not_leader(leader_id, leader_address.as_deref()),
        Error::Storage(detail) | Error::Startup(detail) => {
            tracing::error!(error = %detail, "internal error");
            Status::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RefusalReason;

    #[test]
    fn field_violations_travel_as_bad_request() {
        let s = Status::from(Error::field("session.pressure", "too high"));
        assert_eq!(s.code(), Code::InvalidArgument);
        let br = s.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "session.pressure");
    }

    #[test]
    fn refusals_travel_as_error_info() {
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("missing".to_owned(), "contraindications/cancer".to_owned());
        let s = Status::from(Error::Refused(Refusal {
            reason: RefusalReason::ScreeningRequired,
            message: "answer first".into(),
            metadata,
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        let info = s.get_details_error_info().unwrap();
        assert_eq!(info.reason, "SCREENING_REQUIRED");
        assert_eq!(info.domain, "knotwork.dev");
        assert_eq!(info.metadata["missing"], "contraindications/cancer");
    }

    #[test]
    fn a_reused_request_id_names_the_field_and_the_reason() {
        let s = Status::from(Error::RequestIdReused("requests[2].request_id".into()));
        assert_eq!(s.code(), Code::InvalidArgument);
        let br = s.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "requests[2].request_id");
        assert_eq!(
            s.get_details_error_info().unwrap().reason,
            "REQUEST_ID_REUSED"
        );
    }

    #[test]
    fn quota_refusals_carry_quota_failure() {
        let s = Status::from(Error::QuotaExceeded(QuotaViolation {
            subject: crate::domain::quota::SUBJECT_SESSIONS,
            description: "10 of 10 sessions stored".into(),
        }));
        assert_eq!(s.code(), Code::ResourceExhausted);
        let q = s.get_details_quota_failure().unwrap();
        assert_eq!(q.violations[0].subject, "user:sessions");
        assert_eq!(s.get_details_error_info().unwrap().reason, "QUOTA_EXCEEDED");
    }

    #[test]
    fn storage_detail_is_not_leaked() {
        let s = Status::from(Error::Storage("/secret/path: disk full".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
    }
}
