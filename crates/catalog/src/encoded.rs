//! Answers encoded once per catalog version: the per-version byte cache.
//!
//! The profile of catalog reads showed the service spending its time
//! cloning ready messages (a trigger point is dozens of strings) only to
//! encode and drop them. Here the immutable parts are encoded once per
//! version ([`Encoded::build`]): the whole answer of GetTriggerPoint,
//! GetMuscle, GetRegion, GetTool, GetBodyMap and GetTriggerPointPicture,
//! and every muscle and trigger point as the field FindByPain embeds.
//! `server.rs` writes these bytes to the wire and splices the embedded
//! fields into FindByPain answers.

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
    /// side, the left side and both (a midline point's three are the same).
    pub get_picture: Vec<[Bytes; 3]>,
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
            get_picture: (0..c.data().trigger_points.len())
                .map(|i| {
                    let one = |side| {
                        Bytes::from(
                            pb::GetTriggerPointPictureResponse {
                                svg: picture::render(c, i, side),
                                catalog_version: version.to_owned(),
                            }
                            .encode_to_vec(),
                        )
                    };
                    if c.data().trigger_points[i].bilateral {
                        PictureSide::ALL.map(one)
                    } else {
                        let only = one(PictureSide::Both);
                        [only.clone(), only.clone(), only]
                    }
                })
                .collect(),
            point_field: p.points.iter().map(field1).collect(),
            muscle_field: p.muscles.iter().map(field1).collect(),
        }
    }
}
