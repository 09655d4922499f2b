//! Production mode, shared by the three services: which secrets it refuses.
//!
//! `KNOTWORK_MODE=prod` makes every service refuse, at start, a secret that
//! is the development default or shorter than [`MIN_SECRET_BYTES`]: the
//! internal credential on the catalog, the session service and the
//! gateway, and the gateway's HS256 secret. Each refusal names the setting
//! (its environment variable), never the value.

pub use crate::dev::INTERNAL_TOKEN as DEV_INTERNAL_TOKEN;

/// The shortest secret production mode accepts, in bytes: 256 bits, the
/// HS256 key size RFC 7518 (3.2) requires.
pub const MIN_SECRET_BYTES: usize = 32;

/// How strict a service is about its secrets (and, at the gateway, browser
/// origins and plain-text backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Development: dev secrets accepted, any browser origin when none is listed.
    #[default]
    Dev,
    /// Production: refuses dev and short secrets; only listed browser origins.
    Prod,
}

/// Checks one secret for `mode`: in production it must differ from the
/// development value `dev` and be at least [`MIN_SECRET_BYTES`] long. The
/// error names `setting` (e.g. `KNOTWORK_INTERNAL_TOKEN`), not the value.
pub fn check_secret(mode: Mode, setting: &str, value: &str, dev: &str) -> Result<(), String> {
    if mode == Mode::Dev {
        return Ok(());
    }
    if value == dev {
        return Err(format!(
            "prod mode refuses {setting}: it is the development default; \
             set a random value of at least {MIN_SECRET_BYTES} bytes"
        ));
    }
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "prod mode refuses {setting}: it is {} bytes, at least {MIN_SECRET_BYTES} are needed",
            value.len()
        ));
    }
    Ok(())
}

/// [`check_secret`] for the internal credential (`KNOTWORK_INTERNAL_TOKEN`).
pub fn check_internal_token(mode: Mode, value: &str) -> Result<(), String> {
    check_secret(mode, "KNOTWORK_INTERNAL_TOKEN", value, DEV_INTERNAL_TOKEN)
}

/// [`check_internal_token`] for the current credential, and the same rule
/// for the next one (`KNOTWORK_INTERNAL_TOKEN_NEXT`) during a rotation.
pub fn check_internal_tokens(mode: Mode, current: &str, next: Option<&str>) -> Result<(), String> {
    check_internal_token(mode, current)?;
    match next {
        Some(next) => check_secret(
            mode,
            "KNOTWORK_INTERNAL_TOKEN_NEXT",
            next,
            DEV_INTERNAL_TOKEN,
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(mode: Mode, value: &str, refused: Option<&str>) {
        let got = check_internal_token(mode, value);
        match refused {
            None => assert_eq!(got, Ok(())),
            Some(word) => {
                let e = got.expect_err("refused");
                assert!(e.contains("KNOTWORK_INTERNAL_TOKEN"), "{e}");
                assert!(e.contains(word), "{e}");
                // The value itself is never repeated.
                assert!(value.len() < 8 || !e.contains(value), "{e}");
            }
        }
    }

    #[test]
    fn prod_refuses_dev_and_short_secrets() {
        let long = "x".repeat(MIN_SECRET_BYTES);
        check(Mode::Dev, DEV_INTERNAL_TOKEN, None);
        check(Mode::Dev, "a", None);
        check(Mode::Prod, DEV_INTERNAL_TOKEN, Some("development"));
        check(Mode::Prod, "a", Some("1 bytes"));
        check(Mode::Prod, &long[1..], Some("31 bytes"));
        check(Mode::Prod, &long, None);
    }
}
