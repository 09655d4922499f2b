//! Pagination: page sizes and opaque, validated page tokens.
//!
//! A token carries the offset of the next page, a fingerprint of the query
//! that produced it and of the catalog version it was cut from, and a keyed
//! checksum. A token that was altered, belongs to another query or to an older
//! catalog version is refused rather than silently giving a wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::Violation;

const MAGIC: u8 = 1;
const LEN: usize = 1 + 4 + 8 + 8 + 8;
/// Domain separation for the checksum. Tokens are not secret; the checksum
/// only makes tampering and truncation detectable.
const KEY: &[u8] = b"knotwork.catalog.page-token.v1";

fn digest8(parts: &[&[u8]]) -> [u8; 8] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Why a page token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this service issued (or altered).
    Malformed,
    /// Issued for a different query.
    OtherQuery,
    /// Issued by an older catalog version.
    Stale,
}

impl TokenError {
    /// The field violation for `page_token`.
    pub fn violation(self) -> Violation {
        let msg = match self {
            TokenError::Malformed => "not a valid page token",
            TokenError::OtherQuery => "page token belongs to a different query",
            TokenError::Stale => "page token is from an older catalog version; start again",
        };
        Violation::new("page_token", msg)
    }
}

/// Issues the token for the page starting at `offset`.
pub fn encode(version: &str, query: &str, offset: usize) -> String {
    let mut b = Vec::with_capacity(LEN);
    b.push(MAGIC);
    b.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_be_bytes());
    b.extend_from_slice(&digest8(&[query.as_bytes()]));
    b.extend_from_slice(&digest8(&[version.as_bytes()]));
    let mac = digest8(&[KEY, &b]);
    b.extend_from_slice(&mac);
    URL_SAFE_NO_PAD.encode(b)
}

/// Checks a token and returns its offset. An empty token is offset 0.
pub fn decode(token: &str, version: &str, query: &str) -> Result<usize, TokenError> {
    if token.is_empty() {
        return Ok(0);
    }
    if token.len() > 64 {
        return Err(TokenError::Malformed);
    }
    let b = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if b.len() != LEN || b[0] != MAGIC {
        return Err(TokenError::Malformed);
    }
    if digest8(&[KEY, &b[..LEN - 8]]) != b[LEN - 8..] {
        return Err(TokenError::Malformed);
    }
    if digest8(&[version.as_bytes()]) != b[13..21] {
        return Err(TokenError::Stale);
    }
    if digest8(&[query.as_bytes()]) != b[5..13] {
        return Err(TokenError::OtherQuery);
    }
    let offset = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
    Ok(offset)
}

/// Checks a requested page size: 0 means `default`, otherwise 1..=`max`.
pub fn size(requested: i32, default: usize, max: usize) -> Result<usize, Violation> {
    match requested {
        0 => Ok(default),
        n if n < 0 || n as usize > max => Err(Violation::new(
            "page_size",
            format!("must be between 0 and {max} (0 means {default})"),
        )),
        n => Ok(n as usize),
    }
}

/// One page of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The token for the next page; empty on the last page.
    pub next_token: String,
}

/// Cuts one page out of `all`, checking the token. The query fingerprint must
/// describe everything that shaped `all` except the page size.
pub fn paginate<T>(
    all: Vec<T>,
    size: usize,
    token: &str,
    version: &str,
    query: &str,
) -> Result<Page<T>, Violation> {
    let offset = decode(token, version, query).map_err(TokenError::violation)?;
    if offset > all.len() || (offset == 0 && !token.is_empty()) {
        return Err(TokenError::Malformed.violation());
    }
    let end = offset.saturating_add(size).min(all.len());
    let next_token = if end < all.len() {
        encode(version, query, end)
    } else {
        String::new()
    };
    let items = all.into_iter().skip(offset).take(end - offset).collect();
    Ok(Page { items, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = encode("v1", "q", 40);
        assert_eq!(decode(&t, "v1", "q"), Ok(40));
        assert_eq!(decode("", "v1", "q"), Ok(0));
    }

    #[test]
    fn refuses_other_query_and_version() {
        let t = encode("v1", "q", 40);
        assert_eq!(decode(&t, "v1", "other"), Err(TokenError::OtherQuery));
        assert_eq!(decode(&t, "v2", "q"), Err(TokenError::Stale));
    }

    #[test]
    fn refuses_every_single_byte_change() {
        let t = encode("v1", "q", 40);
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in 0..raw.len() {
            let mut b = raw.clone();
            b[i] ^= 0x01;
            let bad = URL_SAFE_NO_PAD.encode(&b);
            assert!(decode(&bad, "v1", "q").is_err(), "byte {i}");
        }
        for bad in [
            "x",
            "!!!!",
            &t[..t.len() - 1],
            &format!("{t}A"),
            &"A".repeat(100),
        ] {
            assert_eq!(decode(bad, "v1", "q"), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[track_caller]
    fn check_size(requested: i32, expected: Option<usize>) {
        assert_eq!(size(requested, 20, 100).ok(), expected, "{requested}");
    }

    #[test]
    fn page_size_table() {
        check_size(0, Some(20));
        check_size(1, Some(1));
        check_size(100, Some(100));
        check_size(101, None);
        check_size(-1, None);
    }

    #[test]
    fn pages_cover_everything_once() {
        let all: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = paginate(all.clone(), 3, &token, "v", "q").unwrap();
            seen.extend(page.items);
            if page.next_token.is_empty() {
                break;
            }
            token = page.next_token;
        }
        assert_eq!(seen, all);
        // A token past the end (from a longer result) is refused.
        let far = encode("v", "q", 9);
        assert!(paginate(all, 3, &far, "v", "q").is_err());
    }
}
