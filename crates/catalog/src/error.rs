//! The crate's one error type and its one mapping to gRPC statuses.

use knotwork_proto::metadata::ERROR_DOMAIN;
use knotwork_runtime::bounded;
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{CatalogError, QueryError, Violation};

/// `ErrorInfo` reason: the catalog data file failed validation.
pub const REASON_CATALOG_INVALID: &str = "CATALOG_INVALID";
/// `ErrorInfo` reason: the catalog data file could not be read.
pub const REASON_CATALOG_UNREADABLE: &str = "CATALOG_UNREADABLE";

/// Everything that can go wrong in the catalog service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Request fields are wrong.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<Violation>),
    /// A named resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The catalog data file breaks the rules (names the entries).
    #[error(transparent)]
    InvalidCatalog(#[from] CatalogError),
    /// The catalog data file could not be read.
    #[error("cannot read catalog file {path}: {source}")]
    ReadCatalog {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The settings are not usable (names the setting).
    #[error("configuration: {0}")]
    Config(String),
    /// The store failed (detail logged, never sent to clients).
    #[error("storage: {0}")]
    Storage(String),
    /// Serving failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The TLS settings are unusable (names the file).
    #[error(transparent)]
    Tls(#[from] knotwork_runtime::tls::TlsError),
}

fn describe(v: &[Violation]) -> String {
    v.iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(v) => Error::InvalidArgument(v),
            QueryError::NotFound(name) => Error::NotFound(name),
        }
    }
}

impl From<Violation> for Error {
    fn from(v: Violation) -> Self {
        Error::InvalidArgument(vec![v])
    }
}

impl From<Error> for tonic::Status {
    /// The mapping table; every status leaves bounded
    /// (`knotwork_runtime::bounded`): echoed names cut, at most 20 field
    /// violations, message and details within their limits.
    fn from(e: Error) -> Self {
        bounded::bounded(status(e))
    }
}

fn status(e: Error) -> tonic::Status {
    match e {
        Error::InvalidArgument(v) => {
            bounded::invalid_argument(v.iter().map(|x| (&x.field, &x.description)))
        }
        Error::NotFound(name) => bounded::not_found(&name),
        Error::InvalidCatalog(err) => {
            let problems = err.problems();
            let mut meta = std::collections::HashMap::new();
            if let Some(first) = problems.first() {
                meta.insert("entry".to_owned(), first.entry.clone());
            }
            meta.insert("problems".to_owned(), problems.len().to_string());
            let d = ErrorDetails::with_error_info(REASON_CATALOG_INVALID, ERROR_DOMAIN, meta);
            tonic::Status::with_error_details(tonic::Code::FailedPrecondition, err.to_string(), d)
        }
        Error::ReadCatalog { source, .. } => {
            tracing::error!(error = %source, "catalog file unreadable");
            let d = ErrorDetails::with_error_info(
                REASON_CATALOG_UNREADABLE,
                ERROR_DOMAIN,
                std::collections::HashMap::new(),
            );
            tonic::Status::with_error_details(
                tonic::Code::FailedPrecondition,
                "the catalog file cannot be read",
                d,
            )
        }
        Error::Config(e) => {
            tracing::error!(error = %e, "settings");
            tonic::Status::internal("internal error")
        }
        Error::Tls(e) => {
            tracing::error!(error = %e, "TLS settings");
            tonic::Status::internal("internal error")
        }
        Error::Storage(detail) => {
            tracing::error!(%detail, "storage error");
            tonic::Status::internal("internal error")
        }
        Error::Transport(e) => {
            tracing::error!(error = %e, "transport error");
            tonic::Status::internal("internal error")
        }
        Error::Reflection(e) => {
            tracing::error!(error = %e, "reflection error");
            tonic::Status::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_as_bad_request() {
        let s: tonic::Status =
            Error::InvalidArgument(vec![Violation::new("page_size", "too big")]).into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        let br = s.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "page_size");
    }

    #[test]
    fn storage_detail_never_leaks() {
        let s: tonic::Status = Error::Storage("/secret/path corrupted".into()).into();
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(!s.message().contains("secret"));
    }

    #[test]
    fn invalid_catalog_is_failed_precondition_naming_the_entry() {
        let err = CatalogError::Invalid(vec![crate::domain::Problem {
            entry: "muscles[ql]".into(),
            message: "bad".into(),
        }]);
        let s: tonic::Status = Error::InvalidCatalog(err).into();
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert!(s.message().contains("muscles[ql]"));
        let info = s.get_details_error_info().unwrap();
        assert_eq!(info.reason, REASON_CATALOG_INVALID);
        assert_eq!(
            info.metadata.get("entry").map(String::as_str),
            Some("muscles[ql]")
        );
    }
}
