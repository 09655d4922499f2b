//! Which address a call comes from, behind trusted proxies.
//!
//! The TCP peer is the client unless it is one of the trusted proxies
//! (`KNOTWORK_TRUSTED_PROXIES`). Then the forwarding header the proxies set
//! (`X-Forwarded-For`, or RFC 7239 `Forwarded`) lists the hops, each proxy
//! appending the address it received the request from. Walking from the
//! right, every hop that is itself a trusted proxy is skipped; the first
//! one that is not is the client (the "right-most untrusted hop"). Entries
//! to its left were written by the client and are never believed. A hop
//! that is not an address (`unknown`, an obfuscated `_name`, garbage) ends
//! the walk at the last trusted proxy: the call is charged to that proxy
//! rather than to a name the client may have chosen.
//!
//! Only one header kind is read (the one the proxies are configured to
//! set): a proxy passes the other kind through untouched, so reading both
//! would let a client write its own address.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (most load balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// Parses the trusted proxy list: CIDRs (`10.0.0.0/8`, `2001:db8::/32`)
/// or single addresses; empty entries are skipped. The error names the
/// entry that is not one.
pub fn parse_proxies(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("KNOTWORK_TRUSTED_PROXIES: {s:?} is not a CIDR or an address"))
        })
        .collect()
}

/// The client's address: `peer` unless it is a trusted proxy, else the
/// right-most untrusted hop of `values` (the header's values in order,
/// each possibly a comma-separated list) read as `kind`.
pub fn client_ip<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    kind: ForwardedHeader,
    values: impl IntoIterator<Item = &'a str>,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = values
        .into_iter()
        .flat_map(|v| split_elements(v))
        .map(|element| match kind {
            ForwardedHeader::XForwardedFor => parse_node(element),
            ForwardedHeader::Forwarded => forwarded_for(element).and_then(parse_node),
        })
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(ip) {
                    return client;
                }
            }
            // Not an address: charge the proxy that wrote it.
            None => return client,
        }
    }
    // Every hop is a trusted proxy: the left-most is as far as we know.
    client
}

/// An IPv4-mapped IPv6 address as IPv4, so `::ffff:10.0.0.1` matches
/// `10.0.0.0/8` and shares 10.0.0.1's bucket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The comma-separated elements of one header value, commas inside
/// quoted strings kept.
fn split_elements(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// The `for=` parameter of one RFC 7239 element (parameter names are
/// case-insensitive), unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// A node: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`; anything else (`unknown`, `_hidden`) is `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = node.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    node.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const RFC: ForwardedHeader = ForwardedHeader::Forwarded;

    #[track_caller]
    fn check(peer: &str, trusted: &[&str], kind: ForwardedHeader, values: &[&str], expected: &str) {
        let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        let trusted = parse_proxies(&trusted).unwrap();
        let got = client_ip(
            peer.parse().unwrap(),
            &trusted,
            kind,
            values.iter().copied(),
        );
        assert_eq!(got, expected.parse::<IpAddr>().unwrap(), "{values:?}");
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        check("203.0.113.9", &[], XFF, &["198.51.100.1"], "203.0.113.9");
        check(
            "203.0.113.9",
            &["10.0.0.0/8"],
            XFF,
            &["198.51.100.1"],
            "203.0.113.9",
        );
        check(
            "203.0.113.9",
            &["10.0.0.0/8"],
            RFC,
            &["for=198.51.100.1"],
            "203.0.113.9",
        );
    }

    #[test]
    fn x_forwarded_for() {
        let t = &["10.0.0.0/8", "127.0.0.1"];
        check("10.1.2.3", t, XFF, &["198.51.100.1"], "198.51.100.1");
        // The client's own entries left of the real one are ignored.
        check(
            "10.1.2.3",
            t,
            XFF,
            &["1.1.1.1, 198.51.100.1"],
            "198.51.100.1",
        );
        // Two trusted proxies in a row; several header lines in order.
        check(
            "127.0.0.1",
            t,
            XFF,
            &["6.6.6.6, 198.51.100.1", "10.9.9.9"],
            "198.51.100.1",
        );
        check("10.1.2.3", t, XFF, &["198.51.100.1:5555"], "198.51.100.1");
        check("10.1.2.3", t, XFF, &["[2001:db8::7]:80"], "2001:db8::7");
        check("10.1.2.3", t, XFF, &["2001:db8::7"], "2001:db8::7");
        check("10.1.2.3", t, XFF, &["::ffff:198.51.100.1"], "198.51.100.1");
        // No header, an empty one, garbage: the proxy itself.
        check("10.1.2.3", t, XFF, &[], "10.1.2.3");
        check("10.1.2.3", t, XFF, &[""], "10.1.2.3");
        check("10.1.2.3", t, XFF, &["1.1.1.1, unknown"], "10.1.2.3");
        check(
            "10.1.2.3",
            t,
            XFF,
            &["1.1.1.1, unknown, 10.0.0.5"],
            "10.0.0.5",
        );
        // Every hop trusted: the left-most.
        check("10.1.2.3", t, XFF, &["10.0.0.1, 10.0.0.2"], "10.0.0.1");
        // A mapped peer matches its IPv4 network.
        check("::ffff:10.1.2.3", t, XFF, &["198.51.100.1"], "198.51.100.1");
    }

    #[test]
    fn rfc_7239_forwarded() {
        let t = &["10.0.0.0/8"];
        check("10.1.2.3", t, RFC, &["for=198.51.100.1"], "198.51.100.1");
        check(
            "10.1.2.3",
            t,
            RFC,
            &["For=\"198.51.100.1:80\";proto=https"],
            "198.51.100.1",
        );
        check(
            "10.1.2.3",
            t,
            RFC,
            &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1"],
            "2001:db8:cafe::17",
        );
        check(
            "10.1.2.3",
            t,
            RFC,
            &["for=1.1.1.1", "for=10.0.0.4;proto=http"],
            "1.1.1.1",
        );
        check("10.1.2.3", t, RFC, &["for=_hidden"], "10.1.2.3");
        check("10.1.2.3", t, RFC, &["proto=https"], "10.1.2.3");
        // A quoted comma does not split an element.
        check("10.1.2.3", t, RFC, &["for=1.1.1.1;x=\"a,b\""], "1.1.1.1");
        // X-Forwarded-For syntax read as Forwarded is not believed.
        check("10.1.2.3", t, RFC, &["198.51.100.1"], "10.1.2.3");
    }

    #[test]
    fn proxy_list_parsing() {
        let ok = |l: &[&str]| parse_proxies(&l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(ok(&["10.0.0.0/8", " ::1 ", ""]).unwrap().len(), 2);
        let e = ok(&["10.0.0.0/33"]).unwrap_err();
        assert!(
            e.contains("KNOTWORK_TRUSTED_PROXIES") && e.contains("10.0.0.0/33"),
            "{e}"
        );
        assert!(ok(&["proxy.local"]).is_err());
    }
}
