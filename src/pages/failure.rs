//! [`Failure`]: why guichet answers a request itself instead of forwarding it. Each variant
//! has a status, a reason code for the evidence log and metrics, and a page (its words in
//! [`super::texts`], rendered by [`Pages::failure`]), which `/.guichet/error?page=KEY` shows
//! again ([`Failure::page_key`], [`Failure::from_page`]): the language switch of a failure
//! page, which must not replay the request that failed.
//!
//! Invariants:
//! - No variant maps to `500`: input problems are 4xx, provider and store problems 502/503
//!   (`pages::tests::every_failure_has_both_languages_and_no_500`).
//! - [`Failure::metric_reason`] is a bounded set: provider error codes outside the OAuth and
//!   OpenID Connect registries are folded into `provider_error_other`.

use super::texts::{say, texts};
use super::{escape, own_href, short_reference, Journey, Pages};
use crate::web::{Lang, Reply};
use http::header::{self, HeaderValue};
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
    /// A form posted without a session is larger than `preserve_post_max_bytes`.
    #[error("form too large to keep across a login")]
    FormTooLarge,
    /// A form posted without a session cannot be sent again exactly (encoding, shape).
    #[error("form cannot be kept across a login")]
    FormNotKept,
    /// The replay page of a kept form: already shown, expired, or not this browser's.
    #[error("kept form already sent or expired")]
    FormGone,
    /// The citizen who logged in is not the one whose session the form was filled in.
    #[error("kept form belongs to another citizen")]
    FormOtherCitizen,
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
            Failure::FormTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::FormNotKept => StatusCode::BAD_REQUEST,
            Failure::FormGone => StatusCode::GONE,
            Failure::FormOtherCitizen => StatusCode::FORBIDDEN,
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
            Failure::FormTooLarge => "form_too_large".into(),
            Failure::FormNotKept => "form_not_kept".into(),
            Failure::FormGone => "form_gone".into(),
            Failure::FormOtherCitizen => "form_other_citizen".into(),
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
            // FranceConnect's answer to a level its platform does not serve (FC+ asked for
            // eidas1, FC v2 for eidas2).
            "invalid_acr",
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

impl Failure {
    /// The name of this failure's page (`/.guichet/error?page=KEY`).
    pub fn page_key(&self) -> &'static str {
        match self {
            Failure::InvalidRequest(_) => "invalid_request",
            Failure::PathRefused => "path_refused",
            Failure::NotFound => "not_found",
            Failure::UnknownProvider => "unknown_provider",
            Failure::LoginExpired => "login_expired",
            Failure::StateMismatch => "state_mismatch",
            Failure::Cancelled => "cancelled",
            Failure::LoginRequired(_) => "login_required",
            Failure::ProviderDown(_) => "provider_down",
            Failure::ProviderError(_) => "provider_error",
            Failure::ProviderUnavailable => "provider_unavailable",
            Failure::Verification(_) => "verification",
            Failure::LevelTooLow => "level_too_low",
            Failure::InvalidIdentity(_) => "invalid_identity",
            Failure::IdentityNotActive => "identity_not_active",
            Failure::LevelUnavailable => "level_unavailable",
            Failure::IdentityTooLarge => "identity_too_large",
            Failure::AssertionUnavailable => "assertion_unavailable",
            Failure::StoreUnavailable => "store_unavailable",
            Failure::UpstreamUnavailable => "upstream_unavailable",
            Failure::Throttled { .. } => "throttled",
            Failure::HeadersTooLarge => "headers_too_large",
            Failure::FormTooLarge => "form_too_large",
            Failure::FormNotKept => "form_not_kept",
            Failure::FormGone => "form_gone",
            Failure::FormOtherCitizen => "form_other_citizen",
            Failure::UpstreamUnresolved => "upstream_unresolved",
            Failure::Misdirected => "misdirected",
            Failure::EvidenceUnavailable => "evidence_unavailable",
        }
    }

    /// The failure whose page is `key`, for showing that page again: with the provider's
    /// error code (sanitized) and the seconds to wait, the only details a page shows.
    pub fn from_page(key: &str, code: Option<&str>, wait: Option<u64>) -> Option<Failure> {
        Some(match key {
            "invalid_request" => Failure::InvalidRequest("request"),
            "path_refused" => Failure::PathRefused,
            "not_found" => Failure::NotFound,
            "unknown_provider" => Failure::UnknownProvider,
            "login_expired" => Failure::LoginExpired,
            "state_mismatch" => Failure::StateMismatch,
            "cancelled" => Failure::Cancelled,
            "login_required" => Failure::LoginRequired("login_required"),
            "provider_down" => Failure::ProviderDown("server_error"),
            "provider_error" => {
                Failure::ProviderError(crate::oidc::flow::sanitize_error_code(code.unwrap_or("")))
            }
            "provider_unavailable" => Failure::ProviderUnavailable,
            "verification" => Failure::Verification(String::new()),
            "level_too_low" => Failure::LevelTooLow,
            "invalid_identity" => Failure::InvalidIdentity(String::new()),
            "identity_not_active" => Failure::IdentityNotActive,
            "level_unavailable" => Failure::LevelUnavailable,
            "identity_too_large" => Failure::IdentityTooLarge,
            "assertion_unavailable" => Failure::AssertionUnavailable,
            "store_unavailable" => Failure::StoreUnavailable,
            "upstream_unavailable" => Failure::UpstreamUnavailable,
            "throttled" => Failure::Throttled {
                retry_after: wait.unwrap_or(60).clamp(1, 24 * 3600),
            },
            "headers_too_large" => Failure::HeadersTooLarge,
            "form_too_large" => Failure::FormTooLarge,
            "form_not_kept" => Failure::FormNotKept,
            "form_gone" => Failure::FormGone,
            "form_other_citizen" => Failure::FormOtherCitizen,
            "upstream_unresolved" => Failure::UpstreamUnresolved,
            "misdirected" => Failure::Misdirected,
            "evidence_unavailable" => Failure::EvidenceUnavailable,
            _ => return None,
        })
    }

    /// Can the citizen start the login again from this page?
    fn offers_retry(&self) -> bool {
        matches!(
            self,
            Failure::Cancelled
                | Failure::LoginRequired(_)
                | Failure::LoginExpired
                | Failure::StateMismatch
                | Failure::LevelTooLow
                | Failure::ProviderDown(_)
                | Failure::ProviderUnavailable
                | Failure::ProviderError(_)
        )
    }

    /// Does this page point to the service's other way to log in?
    fn offers_other_login(&self) -> bool {
        matches!(
            self,
            Failure::Cancelled
                | Failure::LoginRequired(_)
                | Failure::IdentityNotActive
                | Failure::LevelUnavailable
                | Failure::LevelTooLow
                | Failure::ProviderDown(_)
                | Failure::ProviderUnavailable
        )
    }
}

/// Is this a reference guichet could have shown (the end of a request id)?
pub fn is_reference(s: &str) -> bool {
    (1..=8).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl Pages {
    /// The page for a failure, with what the citizen can do next. `request_id` is shown as a
    /// short reference the citizen can read out to the service (its end: the whole id is in
    /// the evidence log). `journey` is where the citizen was going, for "log in again".
    pub fn failure(
        &self,
        failure: &Failure,
        lang: Lang,
        request_id: Option<&str>,
        journey: Option<&Journey>,
    ) -> Reply {
        let fr = lang == Lang::Fr;
        let (title, text) = texts(failure, lang);
        let title = say(lang, title);
        let mut body = format!("<h1>{title}</h1><p>{}</p>", say(lang, text));
        match failure {
            Failure::ProviderError(c) => body.push_str(&format!(
                "<p class=\"ref\">{}<code>{}</code></p>",
                say(
                    lang,
                    if fr {
                        "Code d'erreur du fournisseur : "
                    } else {
                        "Provider error code: "
                    }
                ),
                escape(c)
            )),
            Failure::Throttled { retry_after } => {
                let minutes = retry_after.div_ceil(60).max(1);
                let when = match (fr, minutes) {
                    (true, 1) => "Vous pourrez réessayer dans une minute.".to_string(),
                    (true, m) => format!("Vous pourrez réessayer dans {m} minutes."),
                    (false, 1) => "You can try again in one minute.".to_string(),
                    (false, m) => format!("You can try again in {m} minutes."),
                };
                body.push_str(&format!("<p>{}</p>", say(lang, &when)));
            }
            _ => {}
        }
        if let Some(help) = &self.texts(lang).error_help {
            body.push_str(&format!("<p>{}</p>", escape(help)));
        }
        let mut actions = String::new();
        let retry = failure.offers_retry();
        if retry {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(j) = journey {
                j.append_to(&mut q);
            }
            actions.push_str(&format!(
                "<a class=\"btn\" href=\"{}\">{}</a>",
                escape(&own_href(&self.prefix, "login", q.finish())),
                if fr {
                    "Se connecter à nouveau"
                } else {
                    "Log in again"
                }
            ));
        }
        if failure.offers_other_login() {
            actions.push_str(&self.other_login_link(lang));
        }
        // A form that could not be kept: this tab still has it one step back, so the citizen
        // logs in elsewhere, comes back and sends it again.
        let new_tab = matches!(failure, Failure::FormTooLarge | Failure::FormNotKept);
        if new_tab {
            actions.push_str(&format!(
                "<a class=\"btn\" href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a>",
                escape(&own_href(&self.prefix, "login", String::new())),
                say(
                    lang,
                    if fr {
                        "Se connecter dans un nouvel onglet"
                    } else {
                        "Log in in a new tab"
                    }
                )
            ));
        }
        // Too many attempts: a home page behind the login would only come back here.
        let home_loops = matches!(failure, Failure::Throttled { .. }) && self.home_needs_login;
        if !home_loops {
            let class = if retry || new_tab {
                "btn btn-secondary"
            } else {
                "btn"
            };
            actions.push_str(&self.home_button(lang, class));
        }
        if !actions.is_empty() {
            body.push_str(&format!("<div class=\"actions\">{actions}</div>"));
        }
        let reference = request_id.map(short_reference).filter(|r| is_reference(r));
        if let Some(r) = reference {
            body.push_str(&format!(
                "<p class=\"ref\">{} <code>{}</code></p>",
                say(
                    lang,
                    if fr {
                        "Référence à communiquer au service si besoin :"
                    } else {
                        "Reference to give the service if needed:"
                    }
                ),
                escape(r)
            ));
        }
        let switch = self.switch_href(lang, "error", |q| {
            q.append_pair("page", failure.page_key());
            match failure {
                Failure::ProviderError(c) => {
                    q.append_pair("code", c);
                }
                Failure::Throttled { retry_after } => {
                    q.append_pair("wait", &retry_after.to_string());
                }
                _ => {}
            }
            if let Some(r) = reference {
                q.append_pair("ref", r);
            }
            if let Some(j) = journey {
                j.append_to(q);
            }
        });
        let mut reply = self.page(failure.status(), lang, &title, &body, &switch);
        if let Failure::Throttled { retry_after } = failure {
            reply
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
        }
        reply
    }
}
