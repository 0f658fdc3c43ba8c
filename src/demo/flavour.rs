//! Which kind of provider the mock imitates ([`Flavour`]) and the identity provider id it
//! names: the words the mock provider ([`super::provider`]) and its citizens
//! ([`super::citizens`]) share. Re-exported by [`super::provider`].

/// The `idp_id` claim the mock puts in tokens (an identity provider id like FranceConnect's).
pub const IDP_ID: &str = "fia1v2";

/// Which kind of provider the mock imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// FranceConnect v1 (legacy): no discovery and no JWKS, endpoints under `/api/v1`
    /// (`/authorize`, `/token`, `/userinfo`, `/logout`), id_token HS256 keyed with the client
    /// secret, JSON userinfo, partial birth dates passed through (`YYYY-00-00`).
    FranceConnectV1,
    /// FranceConnect v2 (eIDAS low): ES256 id_token, userinfo `application/jwt` signed ES256,
    /// `client_secret_post` only, `acr_values` required (`eidas1`); PKCE advertised in
    /// discovery (as FranceConnect's) but `code_challenge` refused at the authorization
    /// endpoint.
    FranceConnectV2,
    /// FranceConnect+ (eIDAS substantial/high): like v2, but id_token and userinfo are JWE
    /// (the relying party's key from [`MockConfig::rp_jwks_uri`], `A256GCM`) around an ES256
    /// JWS; `acr_values` must be `eidas2` or `eidas3`; `rnipp_*` claims.
    FranceConnectPlus,
    /// MConnect (Monaco): RS256 id_token, JSON userinfo with MConnect's claims and an
    /// `Authority` object `{registration_authority, status}`; acr `substantial`/`high`.
    MConnect,
    /// A plain OIDC provider: RS256 id_token, JSON userinfo, PKCE S256 advertised,
    /// `client_secret_basic` and `client_secret_post`.
    Generic,
}

impl Flavour {
    pub const ALL: [Flavour; 5] = [
        Flavour::FranceConnectV1,
        Flavour::FranceConnectV2,
        Flavour::FranceConnectPlus,
        Flavour::MConnect,
        Flavour::Generic,
    ];

    /// Where the real provider puts its endpoints.
    pub fn default_prefix(self) -> &'static str {
        match self {
            Flavour::FranceConnectV1 => "/api/v1",
            Flavour::FranceConnectV2 | Flavour::FranceConnectPlus | Flavour::Generic => "/api/v2",
            Flavour::MConnect => "/mconnect",
        }
    }

    /// The guichet preset that talks to this kind of provider.
    pub fn preset(self) -> &'static str {
        match self {
            Flavour::FranceConnectV1 => "franceconnect-v1-integration",
            Flavour::FranceConnectV2 => "franceconnect-v2-integration",
            Flavour::FranceConnectPlus => "franceconnect-plus-integration",
            Flavour::MConnect => "mconnect",
            Flavour::Generic => "generic",
        }
    }

    /// A short name (`guichet demo --provider`, provider names in the demo configuration).
    pub fn short_name(self) -> &'static str {
        match self {
            Flavour::FranceConnectV1 => "fc-v1",
            Flavour::FranceConnectV2 => "fc",
            Flavour::FranceConnectPlus => "fc-plus",
            Flavour::MConnect => "mconnect",
            Flavour::Generic => "generic",
        }
    }

    pub fn from_short_name(s: &str) -> Option<Flavour> {
        Flavour::ALL.into_iter().find(|f| f.short_name() == s)
    }

    /// Signs id_tokens with the client secret (no JWKS).
    pub fn is_hmac(self) -> bool {
        self == Flavour::FranceConnectV1
    }

    /// RFC 9207: names itself (`iss`) in every authorization response, success and error, and
    /// says so in discovery, as FranceConnect v2 and FranceConnect+ do (they run on panva's
    /// oidc-provider, which always does). The v1, MConnect and generic mocks do not: they stand
    /// for providers without RFC 9207.
    pub fn sends_iss(self) -> bool {
        matches!(self, Flavour::FranceConnectV2 | Flavour::FranceConnectPlus)
    }

    /// FranceConnect's behaviour: its authorization rules ([`platform`]), `client_secret_post`.
    pub fn is_franceconnect(self) -> bool {
        matches!(
            self,
            Flavour::FranceConnectV1 | Flavour::FranceConnectV2 | Flavour::FranceConnectPlus
        )
    }
}
