//! The session service's one error type and its one mapping to gRPC statuses.

use knotwork_proto::metadata::ERROR_DOMAIN;
use knotwork_runtime::bounded;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{FieldViolation, Refusal};

/// Everything that can go wrong in the session service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request has invalid fields; nothing was stored.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist for this user.
    #[error("{0} not found")]
    NotFound(String),
    /// A safety rule refuses the request (FAILED_PRECONDITION).
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// A dependency is not ready (the catalog has not been loaded yet).
    #[error("unavailable: {0}")]
    Unavailable(String),
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

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::Refused(_) => Code::FailedPrecondition,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Storage(_) | Self::Startup(_) => Code::Internal,
        }
    }
}

macro_rules! storage_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Storage(e.to_string())
            }
        }
    )*};
}

storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    serde_json::Error,
);

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
        Error::Unavailable(what) => Status::unavailable(what),
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
    fn storage_detail_is_not_leaked() {
        let s = Status::from(Error::Storage("/secret/path: disk full".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
    }
}
