//! `knotwork.catalog.v1.CatalogService` on the wire: [`CatalogServer`]
//! routes the hot reads to handlers that answer with bytes from the
//! per-version cache (`encoded.rs`), written as they are by
//! `knotwork_proto::codec::EncodedCodec` (requests are decoded as usual),
//! and hands every other method to the generated server over the typed
//! handlers (`service.rs`), with the same compression and size settings.
//!
//! A FindByPain answer still ranks per request, then splices the ready
//! bytes around the small per-request parts, in the order prost writes
//! fields, so the bytes are exactly those of the typed response (checked by
//! the tests for every name and many queries).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use knotwork_proto::catalog::v1 as pb;
use knotwork_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use knotwork_proto::codec::EncodedCodec;
use knotwork_proto::names::CATALOG_SERVICE;
use knotwork_proto::{BoxError, BoxFuture};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::convert::{self, PbCatalog};
use crate::domain::Catalog;
use crate::domain::pain::{MuscleMatch, PainAnswer, ResolvedPain};
use crate::encoded::Encoded;
use crate::service::{self, CatalogApi};
use crate::state::{Catalogs, Loaded};

/// A handler answering with encoded bytes from the current version.
type Answer<Req> = fn(&Loaded, Req) -> Result<Bytes, Error>;

/// One encoded method as tonic's unary service: answers from the version
/// current when the call arrives.
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
                self.encoded(req, get_trigger_point_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetMuscle" => {
                self.encoded(req, get_muscle_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetRegion" => {
                self.encoded(req, get_region_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetTool" => self.encoded(req, get_tool_encoded),
            "/knotwork.catalog.v1.CatalogService/GetBodyMap" => {
                self.encoded(req, get_body_map_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/GetTriggerPointPicture" => {
                self.encoded(req, get_picture_encoded)
            }
            "/knotwork.catalog.v1.CatalogService/FindByPain" => {
                self.encoded(req, find_by_pain_encoded)
            }
            _ => self.inner.call(req),
        }
    }
}

// The answers `CatalogServer` serves pre-encoded: the same checks and
// lookups as the typed handlers (`service.rs`), then ready bytes.

/// GetTriggerPoint, encoded.
pub(crate) fn get_trigger_point_encoded(
    l: &Loaded,
    r: pb::GetTriggerPointRequest,
) -> Result<Bytes, Error> {
    Ok(l.encoded.get_point[service::point_of(l, &r.name)?].clone())
}

/// GetMuscle, encoded.
pub(crate) fn get_muscle_encoded(l: &Loaded, r: pb::GetMuscleRequest) -> Result<Bytes, Error> {
    Ok(l.encoded.get_muscle[service::muscle_of(l, &r.name)?].clone())
}

/// GetRegion, encoded.
pub(crate) fn get_region_encoded(l: &Loaded, r: pb::GetRegionRequest) -> Result<Bytes, Error> {
    Ok(l.encoded.get_region[service::region_of(l, &r.name)?].clone())
}

/// GetTool, encoded.
pub(crate) fn get_tool_encoded(l: &Loaded, r: pb::GetToolRequest) -> Result<Bytes, Error> {
    Ok(l.encoded.get_tool[service::tool_of(l, &r.name)?].clone())
}

/// GetBodyMap, encoded.
pub(crate) fn get_body_map_encoded(l: &Loaded, _r: pb::GetBodyMapRequest) -> Result<Bytes, Error> {
    Ok(l.encoded.get_body_map.clone())
}

/// GetTriggerPointPicture, encoded: one of the point's three pictures.
pub(crate) fn get_picture_encoded(
    l: &Loaded,
    r: pb::GetTriggerPointPictureRequest,
) -> Result<Bytes, Error> {
    service::picture(l, &r)
}

/// FindByPain, encoded: ranked per request, muscles and trigger points
/// spliced in ready-made.
pub(crate) fn find_by_pain_encoded(l: &Loaded, r: pb::FindByPainRequest) -> Result<Bytes, Error> {
    let (resolved, answer, page) = service::pain_page(l, &r)?;
    Ok(pain_response(
        &l.catalog,
        &l.pb,
        &l.encoded,
        &resolved,
        &answer,
        &page.items,
        page.next_token,
    ))
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
pub(crate) fn pain_response(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EMBEDDED_CATALOG;

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
            let bytes = get_trigger_point_encoded(&l, r).expect("known point");
            assert_eq!(bytes, l.encoded.get_point[i]);
            assert_eq!(bytes.as_ref(), typed.encode_to_vec());
        }
        for x in &l.pb.muscles {
            let r = pb::GetMuscleRequest {
                name: x.name.clone(),
            };
            let back = pb::GetMuscleResponse::decode(get_muscle_encoded(&l, r).unwrap()).unwrap();
            assert_eq!(back.muscle.as_ref(), Some(x));
            assert_eq!(back.catalog_version, version);
        }
        for x in &l.pb.regions {
            let r = pb::GetRegionRequest {
                name: x.name.clone(),
            };
            let back = pb::GetRegionResponse::decode(get_region_encoded(&l, r).unwrap()).unwrap();
            assert_eq!(back.region.as_ref(), Some(x));
        }
        for x in &l.pb.tools {
            let r = pb::GetToolRequest {
                name: x.name.clone(),
            };
            let back = pb::GetToolResponse::decode(get_tool_encoded(&l, r).unwrap()).unwrap();
            assert_eq!(back.tool.as_ref(), Some(x));
        }
    }

    #[test]
    fn encoded_handlers_refuse_like_the_typed_ones() {
        let l = loaded();
        let bad = get_trigger_point_encoded(
            &l,
            pb::GetTriggerPointRequest {
                name: "muscles/x".into(),
            },
        )
        .unwrap_err();
        assert_eq!(Status::from(bad).code(), tonic::Code::InvalidArgument);
        let missing = get_muscle_encoded(
            &l,
            pb::GetMuscleRequest {
                name: "muscles/no_such_muscle".into(),
            },
        )
        .unwrap_err();
        assert_eq!(Status::from(missing).code(), tonic::Code::NotFound);
        let empty = find_by_pain_encoded(&l, pb::FindByPainRequest::default()).unwrap_err();
        assert_eq!(Status::from(empty).code(), tonic::Code::InvalidArgument);
    }
}
