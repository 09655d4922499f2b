//! Knotwork's contracts as Rust code: the messages, clients and servers that
//! prost and tonic generate from `proto/`, plus the encoded descriptor set for
//! server reflection and the names of the internal metadata the gateway sets.
//!
//! It is also the one home of the words every crate shares about the wire:
//! service and resource names ([`names`]), the codecs ([`codec`], including
//! the ones that write encoded bytes as they are) and the boxed error and
//! future types of hand-written tower services ([`BoxError`], [`BoxFuture`]).
//!
//! Only this crate compiles `.proto` files. Service crates depend on it and
//! never on each other's generated code.

#![allow(missing_docs)] // Generated code carries the .proto comments instead.

pub mod codec;
pub mod names;

/// The error type tower and tonic services pass on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The future of a hand-written tower service.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// `knotwork.catalog.v1`: the trigger point chart.
pub mod catalog {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("knotwork.catalog.v1");
    }
}

/// `knotwork.session.v1`: the self-treatment journal.
pub mod session {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("knotwork.session.v1");
    }

    /// `knotwork.session.raft.v1`: Raft between the replicas of a shard
    /// group (internal).
    pub mod raft {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("knotwork.session.raft.v1");
        }
    }
}

/// `knotwork.gateway.v1`: screens composed at the edge.
pub mod gateway {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("knotwork.gateway.v1");
    }
}

/// `knotwork.bench.v1`: the bare echo service benchmarks use as a baseline.
pub mod bench {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("knotwork.bench.v1");
    }
}

/// The encoded `FileDescriptorSet` of every Knotwork proto, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("knotwork_descriptor");

/// The methods of `service` (its full name, e.g. [`names::SESSION_SERVICE`])
/// as the compiled contracts declare them, in their order; none for a
/// service they do not have. For the tests that keep a hand-written list of
/// methods exact.
pub fn contract_methods(service: &str) -> Vec<prost_types::MethodDescriptorProto> {
    use prost::Message as _;
    let Ok(set) = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    set.file
        .into_iter()
        .flat_map(|f| {
            let package = f.package().to_owned();
            f.service
                .into_iter()
                .filter(move |s| format!("{package}.{}", s.name()) == service)
        })
        .flat_map(|s| s.method)
        .collect()
}

#[cfg(test)]
mod contract_tests {
    use super::*;

    #[test]
    fn contract_methods_names_a_services_methods() {
        let catalog = contract_methods(names::CATALOG_SERVICE);
        assert!(catalog.iter().any(|m| m.name() == "GetTriggerPoint"));
        assert!(!catalog.iter().any(|m| m.name() == "LogSession"));
        assert!(contract_methods("knotwork.nothing.v1.Nothing").is_empty());
    }
}

/// Names of the metadata that crosses the trust boundary. The gateway strips
/// these from client requests and sets its own; backends trust them only when
/// the internal credential is present and correct.
pub mod metadata {
    /// The authenticated user id (the token's `sub`), set by the gateway.
    pub const USER_ID: &str = "x-knotwork-user-id";
    /// The same user id as UTF-8 bytes (gRPC binary metadata, base64 on the
    /// wire), used when the id is not plain visible ASCII (`josé`).
    pub const USER_ID_BIN: &str = "x-knotwork-user-id-bin";
    /// The shared internal credential that proves the caller is the gateway.
    pub const INTERNAL_TOKEN: &str = "x-knotwork-internal-token";
    /// A request id, carried into every log line and backend call and
    /// returned to the client.
    pub const REQUEST_ID: &str = "x-request-id";
    /// The ErrorInfo domain of Knotwork's refusal reasons.
    pub const ERROR_DOMAIN: &str = "knotwork.dev";
    /// On a catalog answer: the catalog version the whole answer was made
    /// from. Absent when a reload swapped versions while the call ran (the
    /// gateway then does not keep the answer in its cache).
    pub const CATALOG_VERSION: &str = "x-knotwork-catalog-version";
}
