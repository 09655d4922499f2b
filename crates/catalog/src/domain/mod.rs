//! The catalog's rules, pure: no IO, no async, no protobuf.
//!
//! - [`model`]: the data file's schema (serde, unknown fields denied).
//! - [`catalog`]: validation and indexes; [`Catalog`] is always whole.
//! - [`pain`]: region/symptom resolution and find-by-pain ranking.
//! - [`search`]: typo-tolerant free-text search.
//! - [`list`]: filtered listings; [`page`]: page sizes and tokens.
//! - [`text`]: the text matching they share.

pub mod body_map;
pub mod catalog;
pub mod list;
pub mod model;
pub mod page;
pub mod pain;
pub mod picture;
pub mod search;
pub mod text;

pub use catalog::{Catalog, CatalogError, Problem};

/// A side of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Not given.
    Unspecified,
    /// The person's left.
    Left,
    /// The person's right.
    Right,
    /// Both sides.
    Both,
    /// The midline.
    Midline,
}

/// One problem with one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field path, e.g. `locations[0].region`.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a request cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Request fields are wrong.
    Invalid(Vec<Violation>),
    /// A named resource does not exist (its resource name).
    NotFound(String),
}

impl From<Violation> for QueryError {
    fn from(v: Violation) -> Self {
        QueryError::Invalid(vec![v])
    }
}

impl From<Vec<Violation>> for QueryError {
    fn from(v: Vec<Violation>) -> Self {
        QueryError::Invalid(v)
    }
}

/// Resource-name collections (AIP-122), by collection id; the ids are
/// defined once, in `knotwork_proto::names`.
pub mod names {
    use super::{Catalog, QueryError, Violation};
    use knotwork_proto::names as n;

    /// `regions/`
    pub const REGIONS: &str = n::REGIONS.id;
    /// `muscles/`
    pub const MUSCLES: &str = n::MUSCLES.id;
    /// `triggerPoints/`
    pub const TRIGGER_POINTS: &str = n::TRIGGER_POINTS.id;
    /// `tools/`
    pub const TOOLS: &str = n::TOOLS.id;
    /// `symptoms/`
    pub const SYMPTOMS: &str = n::SYMPTOMS.id;
    /// `contraindications/`
    pub const CONTRAINDICATIONS: &str = n::CONTRAINDICATIONS.id;
    /// `redFlags/`
    pub const RED_FLAGS: &str = n::RED_FLAGS.id;
    /// `sources/`
    pub const SOURCES: &str = n::SOURCES.id;
    /// `guides/`
    pub const GUIDES: &str = n::GUIDES.id;

    /// `collection/id`.
    pub fn name(collection: &str, id: &str) -> String {
        format!("{collection}/{id}")
    }

    /// Parses `collection/{id}`, checking the shape only.
    pub fn parse<'a>(field: &str, collection: &str, name: &'a str) -> Result<&'a str, Violation> {
        let id = name
            .strip_prefix(collection)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| {
                Violation::new(
                    field,
                    format!("must be a resource name \"{collection}/{{id}}\""),
                )
            })?;
        let b = id.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_');
        if ok {
            Ok(id)
        } else {
            Err(Violation::new(
                field,
                format!("id must be lower_snake_case, 1-63 characters, in \"{collection}/{{id}}\""),
            ))
        }
    }

    /// Parses a name and looks the id up with `find`: malformed names are
    /// INVALID_ARGUMENT, unknown ones NOT_FOUND.
    pub fn lookup(
        catalog: &Catalog,
        field: &str,
        collection: &str,
        name: &str,
        find: fn(&Catalog, &str) -> Option<usize>,
    ) -> Result<usize, QueryError> {
        let id = parse(field, collection, name)?;
        find(catalog, id).ok_or_else(|| QueryError::NotFound(self::name(collection, id)))
    }

    /// Like [`lookup`], but an empty filter means "no filter".
    pub fn filter(
        catalog: &Catalog,
        field: &str,
        collection: &str,
        name: &str,
        find: fn(&Catalog, &str) -> Option<usize>,
    ) -> Result<Option<usize>, QueryError> {
        if name.is_empty() {
            Ok(None)
        } else {
            lookup(catalog, field, collection, name, find).map(Some)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[track_caller]
        fn check(name: &str, expected: Option<&str>) {
            assert_eq!(parse("name", TRIGGER_POINTS, name).ok(), expected, "{name}");
        }

        #[test]
        fn name_table() {
            check("triggerPoints/ql_1", Some("ql_1"));
            check("triggerPoints/", None);
            check("triggerPoints/QL", None);
            check("ql_1", None);
            check("muscles/ql", None);
            check("triggerPoints/ql/x", None);
            check("triggerPointsx/ql", None);
            check(&format!("triggerPoints/{}", "a".repeat(64)), None);
        }
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A small, valid catalog for unit tests.
    use super::Catalog;

    /// The fixture's text.
    pub const TOML: &str = include_str!("../../tests/fixtures/small.toml");

    /// The fixture, parsed.
    pub fn catalog() -> Catalog {
        match Catalog::from_toml(TOML) {
            Ok(c) => c,
            Err(e) => panic!("fixture invalid: {e}"),
        }
    }
}
