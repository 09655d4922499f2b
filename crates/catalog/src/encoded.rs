//! Answers encoded once per catalog version: the per-version byte cache.
//!
//! The profile of catalog reads showed the service spending its time
//! cloning ready messages (a trigger point is dozens of strings) only to
//! encode and drop them. Here the immutable parts are encoded once per
//! version ([`Encoded::build`]): the whole answer of GetTriggerPoint,
//! GetMuscle, GetRegion, GetTool and GetBodyMap, and every muscle and
//! trigger point as the field FindByPain embeds. `server.rs` writes these
//! bytes to the wire and splices the embedded fields into FindByPain
//! answers.
//!
//! A trigger point's pictures are rendered the first time one is asked
//! for and kept for the version ([`Encoded::picture`]): all of them, three
//! sides of 260 points, were a third of an idle catalog's heap (about 5 MB),
//! and most are never asked for between two releases.

use std::sync::OnceLock;

use bytes::Bytes;
use knotwork_proto::catalog::v1 as pb;
use prost::Message;

use crate::convert::PbCatalog;
use crate::domain::Catalog;
use crate::domain::picture::{self, PictureSide};

/// The encoded messages of one catalog version, indexed like its tables.
#[derive(Debug, Default)]
pub struct Encoded {
    /// `GetTriggerPointResponse` of each trigger point.
    pub get_point: Vec<Bytes>,
    /// `GetMuscleResponse` of each muscle.
    pub get_muscle: Vec<Bytes>,
    /// `GetRegionResponse` of each region.
    pub get_region: Vec<Bytes>,
    /// `GetToolResponse` of each tool.
    pub get_tool: Vec<Bytes>,
    /// `GetBodyMapResponse`.
    pub get_body_map: Bytes,
    /// `GetTriggerPointPictureResponse` of each trigger point, for the right
    /// side, the left side and both, once asked for (a midline point has
    /// only the last).
    pictures: Vec<[OnceLock<Bytes>; 3]>,
    /// Each trigger point as field 1 of a message (key, length, message):
    /// `TriggerPointMatch.trigger_point`.
    pub point_field: Vec<Bytes>,
    /// Each muscle as field 1 of a message: `MuscleMatch.muscle`.
    pub muscle_field: Vec<Bytes>,
}

fn field1(msg: &impl Message) -> Bytes {
    let mut buf = Vec::with_capacity(msg.encoded_len() + 8);
    prost::encoding::message::encode(1, msg, &mut buf);
    buf.into()
}

impl Encoded {
    /// Encodes the immutable answers of a version.
    pub fn build(c: &Catalog, p: &PbCatalog) -> Self {
        let version = c.version();
        let answer = |m: &dyn Fn(String) -> Vec<u8>| Bytes::from(m(version.to_owned()));
        Self {
            get_point: p
                .points
                .iter()
                .map(|x| {
                    answer(&|catalog_version| {
                        pb::GetTriggerPointResponse {
                            trigger_point: Some(x.clone()),
                            catalog_version,
                        }
                        .encode_to_vec()
                    })
                })
                .collect(),
            get_muscle: p
                .muscles
                .iter()
                .map(|x| {
                    answer(&|catalog_version| {
                        pb::GetMuscleResponse {
                            muscle: Some(x.clone()),
                            catalog_version,
                        }
                        .encode_to_vec()
                    })
                })
                .collect(),
            get_region: p
                .regions
                .iter()
                .map(|x| {
                    answer(&|catalog_version| {
                        pb::GetRegionResponse {
                            region: Some(x.clone()),
                            catalog_version,
                        }
                        .encode_to_vec()
                    })
                })
                .collect(),
            get_tool: p
                .tools
                .iter()
                .map(|x| {
                    answer(&|catalog_version| {
                        pb::GetToolResponse {
                            tool: Some(x.clone()),
                            catalog_version,
                        }
                        .encode_to_vec()
                    })
                })
                .collect(),
            get_body_map: Bytes::from(
                pb::GetBodyMapResponse {
                    body_map: Some(p.body_map.clone()),
                    catalog_version: version.to_owned(),
                }
                .encode_to_vec(),
            ),
            pictures: (0..c.data().trigger_points.len())
                .map(|_| Default::default())
                .collect(),
            point_field: p.points.iter().map(field1).collect(),
            muscle_field: p.muscles.iter().map(field1).collect(),
        }
    }

    /// The `GetTriggerPointPictureResponse` of trigger point `point` for
    /// `side` (a midline point's one picture whatever the side), rendered
    /// on the first ask; `None` for a point the catalog does not have.
    pub fn picture(&self, c: &Catalog, point: usize, side: PictureSide) -> Option<Bytes> {
        let bilateral = c.data().trigger_points.get(point)?.bilateral;
        let side = if bilateral { side } else { PictureSide::Both };
        let slot = &self.pictures.get(point)?[side as usize];
        Some(
            slot.get_or_init(|| {
                Bytes::from(
                    pb::GetTriggerPointPictureResponse {
                        svg: picture::render(c, point, side),
                        catalog_version: c.version().to_owned(),
                    }
                    .encode_to_vec(),
                )
            })
            .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EMBEDDED_CATALOG, EMBEDDED_GUIDES, Loaded};

    fn loaded() -> Loaded {
        match Catalog::from_files(EMBEDDED_CATALOG, EMBEDDED_GUIDES) {
            Ok(c) => Loaded::new(c),
            Err(e) => panic!("embedded catalog invalid: {e}"),
        }
    }

    fn decoded(b: &Bytes) -> pb::GetTriggerPointPictureResponse {
        match pb::GetTriggerPointPictureResponse::decode(b.clone()) {
            Ok(r) => r,
            Err(e) => panic!("picture answer does not decode: {e}"),
        }
    }

    /// A picture is rendered on the first ask, kept (the second ask gets
    /// the same bytes, not a new rendering) and is what `render` draws for
    /// that side, tagged with the version.
    #[test]
    fn a_picture_is_rendered_once_and_kept() {
        let l = loaded();
        let (c, e) = (&l.catalog, &l.encoded);
        let bilateral = c.data().trigger_points.iter().position(|t| t.bilateral);
        let Some(point) = bilateral else {
            panic!("the chart has no bilateral point");
        };
        assert!(e.pictures[point].iter().all(|s| s.get().is_none()));
        let right = e.picture(c, point, PictureSide::Right);
        let Some(right) = right else {
            panic!("no picture for a known point");
        };
        assert!(e.pictures[point][0].get().is_some());
        assert!(e.pictures[point][1].get().is_none(), "only the side asked");
        let again = e.picture(c, point, PictureSide::Right);
        assert_eq!(again.as_ref().map(|b| b.as_ptr()), Some(right.as_ptr()));
        let answer = decoded(&right);
        assert_eq!(answer.svg, picture::render(c, point, PictureSide::Right));
        assert_eq!(answer.catalog_version, c.version());
        let left = e
            .picture(c, point, PictureSide::Left)
            .map(|b| decoded(&b).svg);
        assert_ne!(left.as_deref(), Some(answer.svg.as_str()));
    }

    /// A midline point has one picture, whatever side is asked; a point
    /// the catalog does not have has none.
    #[test]
    fn a_midline_point_has_one_picture_and_an_unknown_point_none() {
        let l = loaded();
        let (c, e) = (&l.catalog, &l.encoded);
        let midline = c.data().trigger_points.iter().position(|t| !t.bilateral);
        let Some(point) = midline else {
            panic!("the chart has no midline point");
        };
        let sides = PictureSide::ALL.map(|s| e.picture(c, point, s).map(|b| b.as_ptr()));
        assert!(sides[0].is_some());
        assert!(sides.iter().all(|s| *s == sides[0]), "{sides:?}");
        let n = c.data().trigger_points.len();
        assert!(e.picture(c, n, PictureSide::Both).is_none());
    }
}
