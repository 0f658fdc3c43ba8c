//! `host[:port]`, the one grammar of a host guichet accepts, shared by the configuration
//! (`[server] host_aliases`, `[upstream] host_header`) and the HTTP edge (`Host`, `:authority`,
//! an absolute-form target's authority). Byte-level and allocation-free; imports nothing of
//! guichet.

/// `host[:port]`: a DNS name or an IPv4 address (letters, digits, `-`, `.`, `_`: the subset
/// of RFC 3986's reg-name that names real hosts), or an IPv6 literal in brackets, then an
/// optional port of 1 to 5 digits. No userinfo, path, percent sign or space.
pub fn is_authority(v: &[u8]) -> bool {
    let port = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|b| *b == b']') else {
            return false;
        };
        let literal = &v[1..end];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        if !ok {
            return false;
        }
        &v[end + 1..]
    } else {
        let split = v.iter().rposition(|b| *b == b':').unwrap_or(v.len());
        let host = &v[..split];
        let ok = !host.is_empty()
            && host.len() <= 253
            && host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !ok {
            return false;
        }
        &v[split..]
    };
    match port.strip_prefix(b":") {
        None => port.is_empty(),
        Some(digits) => (1..=5).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit),
    }
}

/// The host of `host[:port]` or `[v6]:port`.
pub fn host_part(authority: &[u8]) -> &[u8] {
    if authority.first() == Some(&b'[') {
        return match authority.iter().position(|b| *b == b']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.iter().rposition(|b| *b == b':') {
        Some(colon) => &authority[..colon],
        None => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_host_and_port_only() {
        for good in [
            "demarches.example.fr",
            "demarches.example.fr:8443",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[2001:db8::1]",
            "localhost",
            "xn--dmarches-b1a.example",
        ] {
            assert!(is_authority(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            ":80",
            "a b",
            "evil.example/x",
            "evil.example@demarches.example.fr",
            "evil.example:",
            "evil.example:123456",
            "evil.example:8o",
            "[::1",
            "[]:80",
            "[::1]x",
            "[::1]:",
            "evil\\x",
            "évil.example",
            "%",
            "a%2fb",
            "a,b",
        ] {
            assert!(!is_authority(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn the_host_part_drops_the_port_only() {
        assert_eq!(
            host_part(b"demarches.example.fr:8443"),
            b"demarches.example.fr"
        );
        assert_eq!(host_part(b"demarches.example.fr"), b"demarches.example.fr");
        assert_eq!(host_part(b"[::1]:8080"), b"[::1]");
        assert_eq!(host_part(b"[::1"), b"[::1");
    }
}
