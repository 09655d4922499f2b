//! The catalog data loader: any text is refused cleanly or gives a catalog
//! that survives the store's round trip and that the session service can
//! read (the session builds its rules from the catalog's snapshot).

use knotwork_catalog::domain::Catalog;
use knotwork_catalog::state::Loaded;

/// Parses and validates `data` as a catalog data file.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = match Catalog::from_toml(text) {
        Ok(c) => c,
        Err(e) => {
            // The refusal must be printable and name at least one problem.
            assert!(!e.to_string().is_empty());
            assert!(!e.problems().is_empty(), "a refusal without a problem");
            return;
        }
    };
    // What the store keeps must load again as the same version.
    let again = Catalog::from_canonical(&catalog.canonical());
    match again {
        Ok(again) => assert_eq!(again.version(), catalog.version(), "version changed"),
        Err(e) => panic!("the canonical form of a valid catalog does not load: {e}"),
    }
    // Every catalog the catalog service serves, the session service reads.
    let loaded = Loaded::new(catalog);
    if let Err(e) = knotwork_session::convert::catalog_view(loaded.pb.snapshot.clone()) {
        panic!("the session service refuses a served catalog: {e}");
    }
}
