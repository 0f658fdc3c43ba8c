//! [`Failure`]: why guichet answers a request itself instead of forwarding it. Each variant
//! has a status, a reason code for the evidence log and metrics, and a page
//! ([`super::texts`]).
//!
//! Invariants:
//! - No variant maps to `500`: input problems are 4xx, provider and store problems 502/503
//!   (`pages::tests::every_failure_has_both_languages_and_no_500`).
//! - [`Failure::metric_reason`] is a bounded set: provider error codes outside the OAuth and
//!   OpenID Connect registries are folded into `provider_error_other`.

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error("path refused")]
    PathRefused,
    #[error("not found")]
    NotFound,
    #[error("unknown provider")]
    UnknownProvider,
    #[error("login state unknown, expired or already used")]
    LoginExpired,
    #[error("login started from another browser")]
    StateMismatch,
    /// `access_denied`: the citizen cancelled, or the identity provider or the RNIPP refused.
    #[error("the citizen cancelled at the provider")]
    Cancelled,
    /// `login_required`, `consent_required`, `interaction_required`,
    /// `account_selection_required`: the provider wants the citizen to log in (again).
    #[error("provider requires the citizen to log in: {0}")]
    LoginRequired(&'static str),
    /// `server_error`, `temporarily_unavailable`: the provider says it is down.
    #[error("provider reports it is down: {0}")]
    ProviderDown(&'static str),
    #[error("provider returned error {0}")]
    ProviderError(String),
    #[error("provider unavailable")]
    ProviderUnavailable,
    #[error("login could not be verified: {0}")]
    Verification(String),
    /// The id_token's `acr` proves less than the level asked for.
    #[error("identity level lower than required")]
    LevelTooLow,
    #[error("identity data refused: {0}")]
    InvalidIdentity(String),
    /// The provider says the digital identity is suspended or inactive (MConnect).
    #[error("digital identity not active")]
    IdentityNotActive,
    /// The page needs a level no configured provider can prove.
    #[error("no login method reaches the level required")]
    LevelUnavailable,
    #[error("identity too large for the application's headers")]
    IdentityTooLarge,
    #[error("identity assertion could not be signed")]
    AssertionUnavailable,
    #[error("session store unavailable")]
    StoreUnavailable,
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    /// The upstream's host name has not resolved yet ([`crate::upstream`]).
    #[error("upstream name does not resolve")]
    UpstreamUnresolved,
    /// The request names a host that is neither the public host nor an alias
    /// ([`crate::edge`]).
    #[error("misdirected request")]
    Misdirected,
    /// The evidence log could not take a login's line ([`crate::audit`]): no session without
    /// its evidence.
    #[error("evidence log unavailable")]
    EvidenceUnavailable,
    /// Too many login starts or failed callbacks from this client ([`crate::throttle`]).
    #[error("too many attempts; retry after {retry_after} s")]
    Throttled { retry_after: u64 },
    /// Too many request header lines, or too many bytes of them (huge cookies:
    /// [`crate::limits`]).
    #[error("request headers too large")]
    HeadersTooLarge,
}

/// Provider error codes with their own page; others are [`Failure::ProviderError`].
pub fn from_provider_error(code: &str) -> Failure {
    match code {
        "access_denied" => Failure::Cancelled,
        "login_required" => Failure::LoginRequired("login_required"),
        "consent_required" => Failure::LoginRequired("consent_required"),
        "interaction_required" => Failure::LoginRequired("interaction_required"),
        "account_selection_required" => Failure::LoginRequired("account_selection_required"),
        "server_error" => Failure::ProviderDown("server_error"),
        "temporarily_unavailable" => Failure::ProviderDown("temporarily_unavailable"),
        other => Failure::ProviderError(other.to_string()),
    }
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::InvalidRequest(_)
            | Failure::PathRefused
            | Failure::UnknownProvider
            | Failure::LoginExpired
            | Failure::StateMismatch => StatusCode::BAD_REQUEST,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            Failure::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Failure::Cancelled
            | Failure::LoginRequired(_)
            | Failure::IdentityNotActive
            | Failure::LevelUnavailable
            | Failure::LevelTooLow => StatusCode::FORBIDDEN,
            Failure::ProviderError(_)
            | Failure::Verification(_)
            | Failure::InvalidIdentity(_)
            | Failure::IdentityTooLarge
            | Failure::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Failure::ProviderUnavailable
            | Failure::ProviderDown(_)
            | Failure::StoreUnavailable
            | Failure::UpstreamUnresolved
            | Failure::EvidenceUnavailable
            | Failure::AssertionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Reason code for the evidence log and metrics (bounded set, plus sanitized OAuth codes).
    pub fn reason(&self) -> String {
        match self {
            Failure::InvalidRequest(what) => format!("invalid_{what}"),
            Failure::PathRefused => "path_refused".into(),
            Failure::NotFound => "not_found".into(),
            Failure::UnknownProvider => "unknown_provider".into(),
            Failure::LoginExpired => "state_unknown".into(),
            Failure::StateMismatch => "state_browser_mismatch".into(),
            Failure::Cancelled => "access_denied".into(),
            Failure::LoginRequired(code) | Failure::ProviderDown(code) => {
                format!("provider_error_{code}")
            }
            Failure::ProviderError(code) => format!("provider_error_{code}"),
            Failure::ProviderUnavailable => "provider_unavailable".into(),
            Failure::Verification(r) | Failure::InvalidIdentity(r) => r.clone(),
            Failure::LevelTooLow => "id_token_acr_too_low".into(),
            Failure::IdentityNotActive => "identity_not_active".into(),
            Failure::LevelUnavailable => "level_unavailable".into(),
            Failure::IdentityTooLarge => "identity_too_large".into(),
            Failure::AssertionUnavailable => "assertion_unavailable".into(),
            Failure::StoreUnavailable => "store_unavailable".into(),
            Failure::UpstreamUnavailable => "upstream_unavailable".into(),
            Failure::UpstreamUnresolved => "upstream_unresolved".into(),
            Failure::Misdirected => "misdirected".into(),
            Failure::EvidenceUnavailable => "evidence_log_unavailable".into(),
            Failure::Throttled { .. } => "throttled".into(),
            Failure::HeadersTooLarge => "headers_too_large".into(),
        }
    }

    /// [`Failure::reason`] with provider error codes outside the OAuth/OIDC registry folded
    /// into one value, so metrics label values stay a fixed set.
    pub fn metric_reason(&self) -> String {
        const KNOWN: &[&str] = &[
            "invalid_request",
            "unauthorized_client",
            "unsupported_response_type",
            "invalid_scope",
            "invalid_request_uri",
            "invalid_request_object",
            "request_not_supported",
            "request_uri_not_supported",
            "registration_not_supported",
            "invalid_idp_hint",
        ];
        match self {
            Failure::ProviderError(code) if !KNOWN.contains(&code.as_str()) => {
                "provider_error_other".into()
            }
            _ => self.reason(),
        }
    }

    /// Does this failure count against the client for throttling? Only what a client
    /// controls: malformed or replayed callbacks, unknown or foreign states, codes or tokens
    /// that do not verify. A provider's answer to a genuine login (the citizen cancelled, an
    /// inactive identity) and guichet's own outages do not.
    pub fn blames_client(&self) -> bool {
        matches!(
            self,
            Failure::InvalidRequest(_)
                | Failure::PathRefused
                | Failure::UnknownProvider
                | Failure::LoginExpired
                | Failure::StateMismatch
                | Failure::Verification(_)
        )
    }
}
