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

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};

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
