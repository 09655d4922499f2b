//! Health and reflection wiring shared by every service.

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use tonic_health::pb::health_server::HealthServer;

/// The health service name that answers SERVING as long as the process
/// answers at all: the liveness probe's. Readiness (the empty name) follows
/// storage and may be NOT_SERVING (a full disk) without the process needing
/// a restart.
pub const LIVENESS: &str = "liveness";

/// Creates the `grpc.health.v1.Health` service with the overall status (the
/// empty service name) set to NOT_SERVING. A service flips it to SERVING with
/// [`set_serving`] once its storage is open, so probes never see a service
/// that cannot yet answer. [`LIVENESS`] is SERVING from the start.
pub async fn health() -> (
    HealthReporter,
    HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, server) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    (reporter, server)
}

/// Marks the overall status and each named service SERVING.
pub async fn set_serving(reporter: &HealthReporter, services: &[&str]) {
    set_status(reporter, services, ServingStatus::Serving).await;
}

/// Marks the overall status and each named service NOT_SERVING.
pub async fn set_not_serving(reporter: &HealthReporter, services: &[&str]) {
    set_status(reporter, services, ServingStatus::NotServing).await;
}

/// Marks each named service, then the overall status (`""`), `status`.
async fn set_status(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    for name in services {
        reporter.set_service_status(name, status).await;
    }
    reporter.set_service_status("", status).await;
}

/// Server reflection, v1 and v1alpha (grpcurl speaks v1, some tools only
/// v1alpha), limited to the named services plus health.
pub fn reflection(
    services: &[&str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(knotwork_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in services {
            b = b.with_service_name(*name);
        }
        b
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// The canonical name of a gRPC status code (`INVALID_ARGUMENT`), as the gRPC
/// documentation spells it: for metrics labels, the CLI and test tables.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_the_documented_spelling() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(tonic::Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(tonic::Code::DataLoss), "DATA_LOSS");
    }
}
