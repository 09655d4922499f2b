//! The development credentials, defined once: the defaults every service,
//! `knotwork up` and the CLI start with, so a local stack works without
//! settings. Production mode ([`crate::prod`]) refuses the secrets among
//! them.

/// The internal credential (`KNOTWORK_INTERNAL_TOKEN`'s default).
pub const INTERNAL_TOKEN: &str = "knotwork-dev-internal";
/// The gateway's HS256 secret for development tokens (`KNOTWORK_JWT_SECRET`'s default).
pub const JWT_SECRET: &str = "knotwork-dev-secret";
/// The issuer (`iss`) of development tokens (`KNOTWORK_JWT_ISSUER`'s default).
pub const JWT_ISSUER: &str = "knotwork-dev";
/// The audience (`aud`) tokens are for (`KNOTWORK_JWT_AUDIENCE`'s default).
pub const JWT_AUDIENCE: &str = "knotwork";
