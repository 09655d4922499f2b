//! The codec every generated client and server uses (`build.rs` passes it to
//! tonic-prost-build with `codec_path`): prost encoding, as tonic's default
//! codec, but a message whose bytes do not decode (invalid UTF-8 in a
//! `string`, a truncated varint, a wrong wire type) is refused with
//! INVALID_ARGUMENT naming the problem, not INTERNAL. Bad input from a client
//! is the client's error; that is the status the API documents for it.
//!
//! Both sides share one codec type, so a response that does not decode is
//! also reported as INVALID_ARGUMENT to the caller (a backend bug, never
//! something a client can cause).
//!
//! Two codecs write messages that are already encoded, as they are: the
//! catalog's [`EncodedCodec`] (requests decoded as above, answers encoded
//! once per catalog version) and the gateway's [`RawCodec`] (bytes both
//! ways, for forwarding without looking inside).

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// prost encoding with decode errors mapped to INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct ProstCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for ProstCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for ProstCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder { _pd: PhantomData }
    }
}

/// Decodes `U`; a [`prost::DecodeError`] becomes INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct ProstDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U> Default for ProstDecoder<U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<U: prost::Message + Default> Decoder for ProstDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(decode_error)
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// The status for a message that does not decode, e.g. "the message could
/// not be decoded: failed to decode Protobuf message: GetSessionRequest.name:
/// invalid string value: data is not UTF-8 encoded".
pub fn decode_error(e: prost::DecodeError) -> Status {
    Status::invalid_argument(format!("the message could not be decoded: {e}"))
}

/// Writes an encoded message as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        dst.put_slice(&item);
        Ok(())
    }
}

/// A codec that decodes requests of type `Req` as [`ProstCodec`] does and
/// writes answers that are already encoded.
#[derive(Debug)]
pub struct EncodedCodec<Req>(PhantomData<fn() -> Req>);

impl<Req> Default for EncodedCodec<Req> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req: prost::Message + Default + Send + 'static> Codec for EncodedCodec<Req> {
    type Encode = Bytes;
    type Decode = Req;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<Req>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// A codec whose messages are their encoded bytes: decoding takes the
/// message out of the frame without copying it, encoding writes it as is.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesEncoder;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_are_invalid_argument() {
        let e = <crate::session::v1::GetSessionRequest as prost::Message>::decode(
            &[0x0a, 0x01, 0xff][..],
        )
        .expect_err("invalid UTF-8 must not decode");
        let s = decode_error(e);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("UTF-8"), "{}", s.message());
    }
}
