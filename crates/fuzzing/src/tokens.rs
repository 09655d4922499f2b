//! Page tokens. The first byte picks the check, the rest is the input:
//! - catalog tokens: any string is refused or is exactly the token the
//!   catalog would issue for that offset, and pagination with it stays in
//!   bounds;
//! - catalog round trip: every issued token decodes to its offset, for the
//!   query and version it was issued for and no other;
//! - session tokens (ListSessions): any string is refused or parses to a
//!   position that prints back to an equivalent token.

use knotwork_catalog::domain::page;

const VERSION: &str = "fuzz-version";
const QUERY: &str = "search|fuzz|";

/// Checks one input.
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => catalog_token(pick, &String::from_utf8_lossy(rest)),
        1 => catalog_round_trip(rest),
        _ => session_token(&String::from_utf8_lossy(rest)),
    }
}

fn catalog_token(pick: u8, token: &str) {
    if let Ok(offset) = page::decode(token, VERSION, QUERY)
        && !token.is_empty()
    {
        assert_eq!(
            page::encode(VERSION, QUERY, offset),
            token,
            "accepted a token it did not issue"
        );
    }
    let all: Vec<usize> = (0..usize::from(pick / 3)).collect();
    let size = usize::from(pick % 7) + 1;
    if let Ok(p) = page::paginate(all.clone(), size, token, VERSION, QUERY) {
        assert!(p.items.len() <= size, "page larger than asked");
        let start = p.items.first().copied().unwrap_or(0);
        assert_eq!(
            p.items,
            all.iter()
                .copied()
                .skip(start)
                .take(p.items.len())
                .collect::<Vec<_>>()
        );
        if !p.next_token.is_empty() {
            assert!(page::decode(&p.next_token, VERSION, QUERY).is_ok());
        }
    }
}

fn catalog_round_trip(rest: &[u8]) {
    let (offset, text) = match rest.split_first_chunk::<4>() {
        Some((o, t)) => (u32::from_be_bytes(*o) as usize, t),
        None => (0, rest),
    };
    let text = String::from_utf8_lossy(text);
    let (version, query) = text.split_once('\0').unwrap_or((&text, ""));
    let token = page::encode(version, query, offset);
    assert!(token.len() <= 64, "issued token too long: {token}");
    assert_eq!(page::decode(&token, version, query), Ok(offset));
    let other_query = format!("{query}x");
    assert!(page::decode(&token, version, &other_query).is_err());
    let other_version = format!("{version}x");
    assert!(page::decode(&token, &other_version, query).is_err());
}

fn session_token(token: &str) {
    use knotwork_session::domain::page::PageToken;
    match PageToken::parse(token) {
        Ok(None) => assert!(token.is_empty()),
        Ok(Some(t)) => {
            assert!(!t.session_id.is_empty());
            let again = PageToken::parse(&t.to_string());
            assert_eq!(
                again.as_ref().ok(),
                Some(&Some(t)),
                "{token:?} -> {again:?}"
            );
        }
        Err(v) => assert_eq!(v.field, "page_token", "{token:?}"),
    }
}
