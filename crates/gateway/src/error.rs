//! The gateway's one error type and its one mapping to gRPC statuses.

use std::time::Duration;

use knotwork_proto::metadata::ERROR_DOMAIN;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's token is missing or not acceptable. `reason` is the
    /// ErrorInfo reason (`TOKEN_MISSING`, `TOKEN_EXPIRED`, ...).
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// The ErrorInfo reason.
        reason: &'static str,
        /// A short explanation (never the token).
        message: String,
    },
    /// A rate limit refused the call.
    #[error("rate limited ({scope}), retry in {retry_after:?}")]
    RateLimited {
        /// `user` or `address`.
        scope: &'static str,
        /// When a retry would pass.
        retry_after: Duration,
    },
    /// Too many calls whose request body has not fully arrived, on one
    /// connection or of one caller.
    #[error("too many calls waiting for their request body on this {scope} (at most {max})")]
    PendingBodies {
        /// `connection`, `user` or `address`.
        scope: &'static str,
        /// The cap.
        max: usize,
    },
    /// A call's request body did not arrive within the body timeout.
    #[error("the request body did not arrive within {after:?}")]
    BodyTimeout {
        /// The body timeout.
        after: Duration,
    },
    /// A call's request headers are over the size limit.
    #[error("request headers of {size} bytes, at most {max}")]
    HeadersTooLarge {
        /// Their size (name + value + 32 per field).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The user already holds the most GuideSession streams allowed.
    #[error("at most {max} guided-session streams open at once per user")]
    TooManyGuideStreams {
        /// The cap.
        max: usize,
    },
    /// A request field is not valid.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field path.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A backend could not be reached.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The call's deadline passed before a backend answered.
    #[error("backend deadline exceeded")]
    DeadlineExceeded,
    /// A backend answered with an error status; it is passed on unchanged.
    #[error("upstream: {0}")]
    Upstream(Status),
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// A listener or file could not be used.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Something that should not happen; the detail is logged, not returned.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Error> for Status {
    /// The mapping table; every status leaves bounded
    /// (`knotwork_runtime::bounded`), a backend's included.
    fn from(err: Error) -> Self {
        knotwork_runtime::bounded::bounded(status(err))
    }
}

fn status(err: Error) -> Status {
    match err {
        Error::Unauthenticated { reason, message } => Status::with_error_details(
            Code::Unauthenticated,
            message,
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, []),
        ),
        Error::RateLimited { scope, retry_after } => {
            let mut details = ErrorDetails::with_retry_info(Some(retry_after));
            details.set_error_info(
                "RATE_LIMITED",
                ERROR_DOMAIN,
                [("scope".to_owned(), scope.to_owned())],
            );
            Status::with_error_details(
                Code::ResourceExhausted,
                format!("too many requests for this {scope}"),
                details,
            )
        }
        Error::PendingBodies { scope, max } => Status::with_error_details(
            Code::ResourceExhausted,
            format!(
                "too many calls waiting for their request body on this {scope} (at most {max}); \
                 send each call's message with its headers"
            ),
            ErrorDetails::with_error_info(
                "TOO_MANY_PENDING_REQUESTS",
                ERROR_DOMAIN,
                [
                    ("scope".to_owned(), scope.to_owned()),
                    ("max".to_owned(), max.to_string()),
                ],
            ),
        ),
        Error::BodyTimeout { after } => Status::with_error_details(
            Code::DeadlineExceeded,
            format!(
                "the request body did not arrive within {} ms of its headers",
                after.as_millis()
            ),
            ErrorDetails::with_error_info(
                "REQUEST_BODY_TIMEOUT",
                ERROR_DOMAIN,
                [("timeout_ms".to_owned(), after.as_millis().to_string())],
            ),
        ),
        Error::HeadersTooLarge { size, max } => Status::with_error_details(
            Code::ResourceExhausted,
            format!("request headers of {size} bytes; at most {max} are accepted"),
            ErrorDetails::with_error_info(
                "HEADERS_TOO_LARGE",
                ERROR_DOMAIN,
                [("max_bytes".to_owned(), max.to_string())],
            ),
        ),
        Error::TooManyGuideStreams { max } => {
            let mut details = ErrorDetails::with_quota_failure_violation(
                "guide_streams",
                format!("at most {max} GuideSession streams open at once per user"),
            );
            details.set_error_info(
                "TOO_MANY_GUIDE_STREAMS",
                ERROR_DOMAIN,
                [("max".to_owned(), max.to_string())],
            );
            Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "this user already has {max} guided-session streams open; \
                     close one before opening another"
                ),
                details,
            )
        }
        Error::InvalidArgument { field, reason } => Status::with_error_details(
            Code::InvalidArgument,
            format!("invalid {field}"),
            ErrorDetails::with_bad_request_violation(field, reason),
        ),
        Error::Unavailable(_) => Status::unavailable("backend unavailable"),
        Error::DeadlineExceeded => Status::deadline_exceeded("backend deadline exceeded"),
        Error::Upstream(status) => status,
        Error::Config(_) | Error::Io(_) | Error::Transport(_) | Error::Internal(_) => {
            tracing::error!(error = %err, "internal error");
            Status::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(err: Error, code: Code) {
        let status = Status::from(err);
        assert_eq!(status.code(), code, "{status:?}");
    }

    #[test]
    fn mapping_table() {
        check(
            Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                message: "no".into(),
            },
            Code::Unauthenticated,
        );
        check(
            Error::RateLimited {
                scope: "user",
                retry_after: Duration::from_millis(5),
            },
            Code::ResourceExhausted,
        );
        check(
            Error::InvalidArgument {
                field: "locations",
                reason: "empty".into(),
            },
            Code::InvalidArgument,
        );
        check(
            Error::PendingBodies {
                scope: "connection",
                max: 3,
            },
            Code::ResourceExhausted,
        );
        check(
            Error::BodyTimeout {
                after: Duration::from_millis(300),
            },
            Code::DeadlineExceeded,
        );
        check(
            Error::HeadersTooLarge {
                size: 70_000,
                max: 16_384,
            },
            Code::ResourceExhausted,
        );
        check(
            Error::TooManyGuideStreams { max: 2 },
            Code::ResourceExhausted,
        );
        check(Error::Unavailable("x".into()), Code::Unavailable);
        check(Error::DeadlineExceeded, Code::DeadlineExceeded);
        check(Error::Upstream(Status::not_found("x")), Code::NotFound);
        check(Error::Internal("secret path".into()), Code::Internal);
    }

    #[test]
    fn internal_detail_is_not_returned() {
        let status = Status::from(Error::Internal("/var/lib/secret".into()));
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn guide_stream_cap_carries_a_quota_failure() {
        let status = Status::from(Error::TooManyGuideStreams { max: 2 });
        let details = status.get_error_details();
        let quota = details.quota_failure().expect("quota failure");
        assert_eq!(quota.violations[0].subject, "guide_streams");
        assert_eq!(
            details.error_info().expect("info").reason,
            "TOO_MANY_GUIDE_STREAMS"
        );
    }

    #[test]
    fn rate_limit_carries_retry_info() {
        let status = Status::from(Error::RateLimited {
            scope: "address",
            retry_after: Duration::from_millis(250),
        });
        let details = status.get_error_details();
        let retry = details.retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(250)));
        assert_eq!(details.error_info().expect("info").reason, "RATE_LIMITED");
    }
}
