//! Answers encoded once per catalog version, and the server that writes
//! them as they are.
//!
//! The profile of catalog reads showed the service spending its time
//! cloning ready messages (a trigger point is dozens of strings) only to
//! encode and drop them. Here the immutable parts are encoded once per
//! version ([`Encoded::build`]): the whole answer of GetTriggerPoint,
//! GetMuscle, GetRegion and GetTool, and every muscle and trigger point as
//! the field FindByPain embeds. A FindByPain answer still ranks per request,
//! then splices the ready bytes around the small per-request parts, in the
//! order prost writes fields, so the bytes are exactly those of the typed
//! response (checked by the tests for every name and many queries).
//!
//! [`CatalogServer`] serves those methods with a codec that writes the
//! bytes unchanged (`knotwork_proto::codec::EncodedCodec`; requests are decoded as usual) and
//! hands every other method to the generated server, with the same
//! compression and size settings.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use knotwork_proto::catalog::v1 as pb;
use knotwork_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use knotwork_proto::codec::EncodedCodec;
use knotwork_proto::{BoxError, BoxFuture};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use crate::convert::{self, PbCatalog};
use crate::domain::Catalog;
use crate::domain::pain::{MuscleMatch, PainAnswer, ResolvedPain};
use crate::domain::picture::{self, PictureSide};
use crate::service::CatalogApi;
use crate::state::{Catalogs, Loaded};
use crate::{CATALOG_SERVICE, Error};

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
    point_field: Vec<Bytes>,
    /// Each muscle as field 1 of a message: `MuscleMatch.muscle`.
    muscle_field: Vec<Bytes>,
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

/// Writes the key and length of a length-delimited field `tag` of `len` bytes.
fn put_len_field(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// The encoded size of a length-delimited field `tag` of `len` bytes.
fn len_field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A find-by-pain answer page, encoded: the bytes prost would write for
/// [`convert::pain_response`], with the muscles and trigger points taken
/// ready-made from `e`.
pub fn pain_response(
    c: &Catalog,
    p: &PbCatalog,
    e: &Encoded,
    resolved: &ResolvedPain,
    answer: &PainAnswer,
    page: &[MuscleMatch],
    next_page_token: String,
) -> Bytes {
    // Fields 2-6 of the response, and of each match everything but its
    // muscle and its points' trigger points.
    let rest = convert::pain_response_without_matches(c, p, resolved, answer, next_page_token);
    let mut buf = Vec::with_capacity(16 * 1024);
    // Field 1, `matches`, comes first, as prost writes fields in tag order.
    for mm in page {
        let mut m = convert::muscle_match_shallow(c, p, mm);
        // MuscleMatch fields in tag order: 1 muscle, 2 score, 3 trigger
        // points, then 4-6 from the shallow message (whose 1-3 are emptied).
        let score = std::mem::replace(&mut m.score, 0.0);
        let points = std::mem::take(&mut m.trigger_points);
        let muscle = &e.muscle_field[mm.muscle];
        let point_lens: Vec<usize> = points
            .iter()
            .zip(&mm.points)
            .map(|(t, pm)| e.point_field[pm.point].len() + t.encoded_len())
            .collect();
        let score_len = if score != 0.0 { key_len(2) + 8 } else { 0 };
        let len = muscle.len()
            + score_len
            + point_lens
                .iter()
                .map(|&l| len_field_len(3, l))
                .sum::<usize>()
            + m.encoded_len();
        put_len_field(1, len, &mut buf);
        buf.put_slice(muscle);
        if score != 0.0 {
            prost::encoding::double::encode(2, &score, &mut buf);
        }
        for ((t, pm), l) in points.iter().zip(&mm.points).zip(point_lens) {
            // TriggerPointMatch: 1 trigger point (ready), then 2-4.
            put_len_field(3, l, &mut buf);
            buf.put_slice(&e.point_field[pm.point]);
            t.encode_raw(&mut buf);
        }
        m.encode_raw(&mut buf);
    }
    rest.encode_raw(&mut buf);
    buf.into()
}

/// A handler answering with encoded bytes from the current version.
type Answer<Req> = fn(&Loaded, Req) -> Result<Bytes, Error>;

struct Unary<Req> {
    catalogs: Arc<Catalogs>,
    answer: Answer<Req>,
}

impl<Req: Send + 'static> tonic::server::UnaryService<Req> for Unary<Req> {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        let current = self.catalogs.current();
        let answer = self.answer;
        let result = answer(&current, request.into_inner())
            .map(Response::new)
            .map_err(Status::from);
        Box::pin(async move { result })
    }
}

/// `knotwork.catalog.v1.CatalogService`: the hot reads from encoded
/// answers, the rest through the generated server.
#[derive(Debug, Clone)]
pub struct CatalogServer {
    inner: CatalogServiceServer<CatalogApi>,
    catalogs: Arc<Catalogs>,
    compression: Option<CompressionEncoding>,
}

impl CatalogServer {
    /// Serves `catalogs`, accepting and (when the client accepts it)
    /// sending `compression`.
    pub fn new(catalogs: Arc<Catalogs>, compression: Option<CompressionEncoding>) -> Self {
        let mut inner = CatalogServiceServer::new(CatalogApi::new(catalogs.clone()));
        if let Some(c) = compression {
            inner = inner.accept_compressed(c).send_compressed(c);
        }
        Self {
            inner,
            catalogs,
            compression,
        }
    }

    fn encoded<Req, B>(
        &self,
        req: http::Request<B>,
        answer: Answer<Req>,
    ) -> BoxFuture<Result<http::Response<tonic::body::Body>, Infallible>>
    where
        Req: Message + Default + Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError> + Send + 'static,
    {
        let unary = Unary {
            catalogs: self.catalogs.clone(),
            answer,
        };
        let compression = self.compression;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(EncodedCodec::<Req>::default());
            if let Some(c) = compression {
                grpc = grpc.accept_compressed(c).send_compressed(c);
            }
            Ok(grpc.unary(unary, req).await)
        })
    }
}

impl NamedService for CatalogServer {
    const NAME: &'static str = CATALOG_SERVICE;
}

impl<B> Service<http::Request<B>> for CatalogServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            "/knotwork.catalog.v1.CatalogService/GetTriggerPoint" => {
                self.encoded(req, CatalogApi::get_trigger_point_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetMuscle" => {
                self.encoded(req, CatalogApi::get_muscle_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetRegion" => {
                self.encoded(req, CatalogApi::get_region_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetTool" => {
                self.encoded(req, CatalogApi::get_tool_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetBodyMap" => {
                self.encoded(req, CatalogApi::get_body_map_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetTriggerPointPicture" => {
                self.encoded(req, CatalogApi::get_picture_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/FindByPain" => {
                self.encoded(req, CatalogApi::find_by_pain_encoded)
            }
            _ => self.inner.call(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EMBEDDED_CATALOG, Loaded};

    fn loaded() -> Loaded {
        Loaded::new(Catalog::from_toml(EMBEDDED_CATALOG).expect("embedded catalog"))
    }

    /// The typed handler's FindByPain answer and the encoded one, for one
    /// request: the bytes must be identical.
    fn both(l: &Loaded, r: &pb::FindByPainRequest) -> Option<(Vec<u8>, Bytes)> {
        let (resolved, answer, page) = crate::service::pain_page(l, r).ok()?;
        let typed = convert::pain_response(
            &l.catalog,
            &l.pb,
            &resolved,
            &answer,
            &page.items,
            page.next_token.clone(),
        )
        .encode_to_vec();
        let encoded = pain_response(
            &l.catalog,
            &l.pb,
            &l.encoded,
            &resolved,
            &answer,
            &page.items,
            page.next_token,
        );
        Some((typed, encoded))
    }

    #[test]
    fn find_by_pain_bytes_equal_the_typed_answer() {
        let l = loaded();
        let d = l.catalog.data();
        let mut compared = 0;
        let mut with_matches = 0;
        for (i, region) in d.regions.iter().enumerate() {
            for side in [pb::Side::Unspecified, pb::Side::Left, pb::Side::Both] {
                for page_size in [0, 1, 3, 10, 100] {
                    let symptoms = if i % 2 == 0 {
                        vec![d.symptoms[i % d.symptoms.len()].id.clone()]
                    } else {
                        vec![]
                    };
                    let mut r = pb::FindByPainRequest {
                        locations: vec![
                            pb::PainLocation {
                                region: region.name.clone(),
                                side: side as i32,
                            },
                            pb::PainLocation {
                                region: d.regions[(i + 7) % d.regions.len()].id.clone(),
                                side: pb::Side::Unspecified as i32,
                            },
                        ],
                        symptoms,
                        page_size,
                        page_token: String::new(),
                    };
                    // This page and the next.
                    for _ in 0..2 {
                        let Some((typed, encoded)) = both(&l, &r) else {
                            break;
                        };
                        assert_eq!(typed, encoded.as_ref(), "{r:?}");
                        let back = pb::FindByPainResponse::decode(encoded).expect("decodes");
                        compared += 1;
                        with_matches += usize::from(!back.matches.is_empty());
                        if back.next_page_token.is_empty() {
                            break;
                        }
                        r.page_token = back.next_page_token;
                    }
                }
            }
        }
        assert!(
            compared > 500 && with_matches > 300,
            "{compared} {with_matches}"
        );
    }

    #[test]
    fn single_resources_are_the_typed_answers() {
        let l = loaded();
        let version = l.catalog.version().to_owned();
        for (i, x) in l.pb.points.iter().enumerate() {
            let typed = pb::GetTriggerPointResponse {
                trigger_point: Some(x.clone()),
                catalog_version: version.clone(),
            };
            let r = pb::GetTriggerPointRequest {
                name: x.name.clone(),
            };
            let bytes = CatalogApi::get_trigger_point_encoded(&l, r).expect("known point");
            assert_eq!(bytes, l.encoded.get_point[i]);
            assert_eq!(bytes.as_ref(), typed.encode_to_vec());
        }
        for x in &l.pb.muscles {
            let r = pb::GetMuscleRequest {
                name: x.name.clone(),
            };
            let back =
                pb::GetMuscleResponse::decode(CatalogApi::get_muscle_encoded(&l, r).unwrap())
                    .unwrap();
            assert_eq!(back.muscle.as_ref(), Some(x));
            assert_eq!(back.catalog_version, version);
        }
        for x in &l.pb.regions {
            let r = pb::GetRegionRequest {
                name: x.name.clone(),
            };
            let back =
                pb::GetRegionResponse::decode(CatalogApi::get_region_encoded(&l, r).unwrap())
                    .unwrap();
            assert_eq!(back.region.as_ref(), Some(x));
        }
        for x in &l.pb.tools {
            let r = pb::GetToolRequest {
                name: x.name.clone(),
            };
            let back =
                pb::GetToolResponse::decode(CatalogApi::get_tool_encoded(&l, r).unwrap()).unwrap();
            assert_eq!(back.tool.as_ref(), Some(x));
        }
    }

    #[test]
    fn encoded_handlers_refuse_like_the_typed_ones() {
        let l = loaded();
        let bad = CatalogApi::get_trigger_point_encoded(
            &l,
            pb::GetTriggerPointRequest {
                name: "muscles/x".into(),
            },
        )
        .unwrap_err();
        assert_eq!(Status::from(bad).code(), tonic::Code::InvalidArgument);
        let missing = CatalogApi::get_muscle_encoded(
            &l,
            pb::GetMuscleRequest {
                name: "muscles/no_such_muscle".into(),
            },
        )
        .unwrap_err();
        assert_eq!(Status::from(missing).code(), tonic::Code::NotFound);
        let empty =
            CatalogApi::find_by_pain_encoded(&l, pb::FindByPainRequest::default()).unwrap_err();
        assert_eq!(Status::from(empty).code(), tonic::Code::InvalidArgument);
    }
}
