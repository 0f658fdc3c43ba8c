//! Which host a request names (its `Host`, HTTP/2's `:authority`, or an absolute-form
//! target's authority), against the public URL's host and `[server] host_aliases`.
//!
//! Host names are compared without their port, ignoring ASCII case: cookies, which carry the
//! session, are not scoped by port either, and replicas behind one load balancer listen on
//! their own ports. A name that is neither the public host nor an alias is misdirected (421):
//! guichet serves one origin, and an application that builds URLs from `Host` must only ever
//! see that one (the upstream receives the public host as `Host` anyway).

use crate::authority::host_part;

/// How a request's host relates to this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMatch {
    /// The public URL's host (or no host at all: HTTP/1.0 without `Host`).
    Public,
    /// One of `[server] host_aliases`: redirected to the public URL.
    Alias,
    /// Anything else: 421 Misdirected Request.
    Other,
}

/// The public host and the aliases, lower case, without ports.
#[derive(Debug, Clone)]
pub struct Hosts {
    public: String,
    aliases: Vec<String>,
}

impl Hosts {
    /// `public_url` is `scheme://host[:port]` (validated); `aliases` are host names
    /// (validated, without port).
    pub fn new(public_url: &str, aliases: &[String]) -> Hosts {
        let authority = public_url
            .split_once("://")
            .map_or(public_url, |(_, a)| a)
            .as_bytes();
        Hosts {
            public: lower(host_part(authority)),
            aliases: aliases.iter().map(|a| lower(a.as_bytes())).collect(),
        }
    }

    /// What `authority` (`host[:port]`, already checked to be one) names.
    pub fn judge(&self, authority: Option<&[u8]>) -> HostMatch {
        let Some(authority) = authority else {
            return HostMatch::Public;
        };
        let host = host_part(authority);
        if host.eq_ignore_ascii_case(self.public.as_bytes()) {
            HostMatch::Public
        } else if self
            .aliases
            .iter()
            .any(|a| host.eq_ignore_ascii_case(a.as_bytes()))
        {
            HostMatch::Alias
        } else {
            HostMatch::Other
        }
    }
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_without_port_or_case() {
        let h = Hosts::new(
            "https://demarches.example.fr",
            &["www.demarches.example.fr".into(), "localhost".into()],
        );
        let judge = |a: &str| h.judge(Some(a.as_bytes()));
        assert_eq!(judge("demarches.example.fr"), HostMatch::Public);
        assert_eq!(judge("Demarches.Example.FR:443"), HostMatch::Public);
        assert_eq!(judge("demarches.example.fr:8443"), HostMatch::Public);
        assert_eq!(judge("www.demarches.example.fr"), HostMatch::Alias);
        assert_eq!(judge("localhost:8080"), HostMatch::Alias);
        assert_eq!(judge("evil.example"), HostMatch::Other);
        assert_eq!(judge("demarches.example.fr.evil"), HostMatch::Other);
        assert_eq!(judge("10.0.0.12:8080"), HostMatch::Other);
        assert_eq!(judge("demarches.example.fr."), HostMatch::Other);
        assert_eq!(h.judge(None), HostMatch::Public);

        let v6 = Hosts::new("http://[::1]:8080", &[]);
        assert_eq!(v6.judge(Some(b"[::1]:9")), HostMatch::Public);
        assert_eq!(v6.judge(Some(b"[::2]:8080")), HostMatch::Other);
        let local = Hosts::new("http://127.0.0.1:8080", &[]);
        assert_eq!(local.judge(Some(b"127.0.0.1:31000")), HostMatch::Public);
        assert_eq!(local.judge(Some(b"localhost:8080")), HostMatch::Other);
    }
}
