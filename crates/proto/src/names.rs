//! The names the contracts use, defined once: the full names of the gRPC
//! services, and the resource-name collections (AIP-122) of the resources
//! they serve.

/// `knotwork.catalog.v1.CatalogService`: the public chart.
pub const CATALOG_SERVICE: &str = "knotwork.catalog.v1.CatalogService";
/// `knotwork.catalog.v1.CatalogAdminService`: reloads, behind the internal credential.
pub const CATALOG_ADMIN_SERVICE: &str = "knotwork.catalog.v1.CatalogAdminService";
/// `knotwork.session.v1.SessionService`: a person's journal.
pub const SESSION_SERVICE: &str = "knotwork.session.v1.SessionService";
/// `knotwork.session.v1.SessionAdminService`: moving, backing up and deleting users.
pub const SESSION_ADMIN_SERVICE: &str = "knotwork.session.v1.SessionAdminService";
/// `knotwork.session.raft.v1.RaftService`: Raft between a shard group's replicas.
pub const RAFT_SERVICE: &str = "knotwork.session.raft.v1.RaftService";
/// `knotwork.gateway.v1.ViewService`: screens composed at the edge.
pub const VIEW_SERVICE: &str = "knotwork.gateway.v1.ViewService";

/// A resource-name collection: the `collection` of `collection/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// The collection id, as the contract spells it (`triggerPoints`).
    pub id: &'static str,
    /// The id followed by `/`: what a resource name starts with.
    pub prefix: &'static str,
}

/// The resource name `prefix` + `id` (a collection's prefix, `/` included),
/// sized once: answers name every resource they list (a progress answer
/// some hundred points and their alternatives), so this skips `format!`'s
/// machinery.
pub fn join(prefix: &str, id: &str) -> String {
    [prefix, id].concat()
}

impl Collection {
    /// `collection/id`.
    pub fn name(self, id: &str) -> String {
        join(self.prefix, id)
    }

    /// The id of `name` when it is in this collection (shape unchecked).
    pub fn id_of(self, name: &str) -> Option<&str> {
        name.strip_prefix(self.prefix)
    }
}

/// Declares the collections; the prefix is the id and `/`, so the two
/// forms cannot disagree.
macro_rules! collections {
    ($($(#[$doc:meta])* $name:ident = $id:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: Collection = Collection { id: $id, prefix: concat!($id, "/") };
        )*
    };
}

collections! {
    /// `regions/{id}`: body regions.
    REGIONS = "regions";
    /// `muscles/{id}`.
    MUSCLES = "muscles";
    /// `triggerPoints/{id}`.
    TRIGGER_POINTS = "triggerPoints";
    /// `tools/{id}`: self-treatment tools.
    TOOLS = "tools";
    /// `symptoms/{id}`.
    SYMPTOMS = "symptoms";
    /// `contraindications/{id}`: screening conditions.
    CONTRAINDICATIONS = "contraindications";
    /// `redFlags/{id}`: signs that need a clinician.
    RED_FLAGS = "redFlags";
    /// `sources/{id}`: the references the chart cites.
    SOURCES = "sources";
    /// `guides/{id}`: how-to guides.
    GUIDES = "guides";
    /// `sessions/{id}`: logged self-treatment sessions.
    SESSIONS = "sessions";
    /// `guidedSessions/{id}`: sessions started with a guide.
    GUIDED_SESSIONS = "guidedSessions";
    /// `holds/{id}`: safety holds on a muscle.
    HOLDS = "holds";
    /// `checkIns/{id}`: daily pain check-ins.
    CHECK_INS = "checkIns";
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::server::NamedService;

    #[test]
    fn service_names_are_the_generated_ones() {
        use crate::catalog::v1::catalog_admin_service_server::CatalogAdminServiceServer as CA;
        use crate::catalog::v1::catalog_service_server::CatalogServiceServer as C;
        use crate::gateway::v1::view_service_server::ViewServiceServer as V;
        use crate::session::raft::v1::raft_service_server::RaftServiceServer as R;
        use crate::session::v1::session_admin_service_server::SessionAdminServiceServer as SA;
        use crate::session::v1::session_service_server::SessionServiceServer as S;
        struct X;
        assert_eq!(<R<X> as NamedService>::NAME, RAFT_SERVICE);
        assert_eq!(<C<X> as NamedService>::NAME, CATALOG_SERVICE);
        assert_eq!(<CA<X> as NamedService>::NAME, CATALOG_ADMIN_SERVICE);
        assert_eq!(<S<X> as NamedService>::NAME, SESSION_SERVICE);
        assert_eq!(<SA<X> as NamedService>::NAME, SESSION_ADMIN_SERVICE);
        assert_eq!(<V<X> as NamedService>::NAME, VIEW_SERVICE);
    }

    #[test]
    fn names_and_ids_round_trip() {
        assert_eq!(TRIGGER_POINTS.prefix, "triggerPoints/");
        assert_eq!(
            TRIGGER_POINTS.name("sternocleidomastoid_1"),
            "triggerPoints/sternocleidomastoid_1"
        );
        assert_eq!(TRIGGER_POINTS.id_of("triggerPoints/x"), Some("x"));
        assert_eq!(TRIGGER_POINTS.id_of("triggerPointsx"), None);
        assert_eq!(MUSCLES.id_of("triggerPoints/x"), None);
    }
}
