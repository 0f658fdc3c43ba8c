//! The pages citizens see (errors, provider chooser, logged out), in French by default and
//! English on request, and the one place where a [`Failure`] becomes a status and a page.
//! The chooser's buttons (official FranceConnect wording) are in [`chooser`].
//!
//! Invariants:
//! - Every dynamic value is HTML-escaped ([`escape`]).
//! - Pages load nothing from elsewhere: inline CSS allowed by its hash in a strict
//!   `Content-Security-Policy`, no script, `frame-ancestors 'none'`.

mod chooser;

pub use chooser::ChooserEntry;

use crate::config::PagesConfig;
use crate::web::{Lang, Reply};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use std::sync::OnceLock;

/// Why guichet answers a request itself instead of forwarding it. Each variant has a status,
/// a reason code (logs, metrics) and a page.
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
    #[error("the citizen cancelled at the provider")]
    Cancelled,
    #[error("provider returned error {0}")]
    ProviderError(String),
    #[error("provider unavailable")]
    ProviderUnavailable,
    #[error("login could not be verified: {0}")]
    Verification(String),
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
            Failure::Cancelled | Failure::IdentityNotActive | Failure::LevelUnavailable => {
                StatusCode::FORBIDDEN
            }
            Failure::ProviderError(_)
            | Failure::Verification(_)
            | Failure::InvalidIdentity(_)
            | Failure::IdentityTooLarge
            | Failure::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Failure::ProviderUnavailable
            | Failure::StoreUnavailable
            | Failure::AssertionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            Failure::ProviderError(code) => format!("provider_error_{code}"),
            Failure::ProviderUnavailable => "provider_unavailable".into(),
            Failure::Verification(r) | Failure::InvalidIdentity(r) => r.clone(),
            Failure::IdentityNotActive => "identity_not_active".into(),
            Failure::LevelUnavailable => "level_unavailable".into(),
            Failure::IdentityTooLarge => "identity_too_large".into(),
            Failure::AssertionUnavailable => "assertion_unavailable".into(),
            Failure::StoreUnavailable => "store_unavailable".into(),
            Failure::UpstreamUnavailable => "upstream_unavailable".into(),
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
            "server_error",
            "temporarily_unavailable",
            "login_required",
            "consent_required",
            "interaction_required",
            "account_selection_required",
            "invalid_request_uri",
            "invalid_request_object",
            "request_not_supported",
            "registration_not_supported",
        ];
        match self {
            Failure::ProviderError(code) if !KNOWN.contains(&code.as_str()) => {
                "provider_error_other".into()
            }
            _ => self.reason(),
        }
    }

    fn texts(&self, lang: Lang) -> (&'static str, &'static str) {
        use Lang::*;
        match (self, lang) {
            (Failure::InvalidRequest(_) | Failure::PathRefused, Fr) => (
                "Requête invalide",
                "L'adresse demandée n'est pas valide.",
            ),
            (Failure::InvalidRequest(_) | Failure::PathRefused, En) => {
                ("Invalid request", "The address you asked for is not valid.")
            }
            (Failure::NotFound, Fr) => ("Page introuvable", "Cette page n'existe pas."),
            (Failure::NotFound, En) => ("Page not found", "This page does not exist."),
            (Failure::UnknownProvider, Fr) => (
                "Moyen de connexion inconnu",
                "Le moyen de connexion demandé n'est pas proposé par ce service.",
            ),
            (Failure::UnknownProvider, En) => (
                "Unknown login method",
                "This service does not offer the login method you asked for.",
            ),
            (Failure::LoginExpired, Fr) => (
                "Connexion expirée",
                "Votre demande de connexion a expiré ou a déjà été utilisée. Veuillez recommencer.",
            ),
            (Failure::LoginExpired, En) => (
                "Login expired",
                "Your login request has expired or was already used. Please start again.",
            ),
            (Failure::StateMismatch, Fr) => (
                "Connexion refusée",
                "Cette connexion n'a pas été commencée depuis ce navigateur. Veuillez recommencer.",
            ),
            (Failure::StateMismatch, En) => (
                "Login refused",
                "This login was not started from this browser. Please start again.",
            ),
            (Failure::Cancelled, Fr) => (
                "Connexion annulée",
                "Vous avez annulé la connexion. Vous pouvez recommencer quand vous le souhaitez.",
            ),
            (Failure::Cancelled, En) => (
                "Login cancelled",
                "You cancelled the login. You can start again whenever you wish.",
            ),
            (Failure::ProviderError(_), Fr) => (
                "Erreur du fournisseur d'identité",
                "Le fournisseur d'identité n'a pas pu vous connecter. Veuillez réessayer plus tard.",
            ),
            (Failure::ProviderError(_), En) => (
                "Identity provider error",
                "The identity provider could not log you in. Please try again later.",
            ),
            (Failure::ProviderUnavailable, Fr) => (
                "Service de connexion indisponible",
                "Le fournisseur d'identité ne répond pas pour le moment. Veuillez réessayer dans quelques minutes.",
            ),
            (Failure::ProviderUnavailable, En) => (
                "Login service unavailable",
                "The identity provider is not answering right now. Please try again in a few minutes.",
            ),
            (Failure::Verification(_), Fr) => (
                "Connexion non vérifiée",
                "La réponse du fournisseur d'identité n'a pas pu être vérifiée. Par sécurité, la connexion est refusée.",
            ),
            (Failure::Verification(_), En) => (
                "Login not verified",
                "The identity provider's answer could not be verified. For your security, the login is refused.",
            ),
            (Failure::InvalidIdentity(_), Fr) => (
                "Données d'identité invalides",
                "Les données d'identité transmises ne sont pas dans un format accepté. La connexion est refusée.",
            ),
            (Failure::InvalidIdentity(_), En) => (
                "Invalid identity data",
                "The identity data received is not in an accepted format. The login is refused.",
            ),
            (Failure::IdentityNotActive, Fr) => (
                "Identité numérique inactive",
                "Votre identité numérique n'est pas active (suspendue ou désactivée) : elle ne permet pas de vous connecter à ce service. Rapprochez-vous de l'autorité qui l'a délivrée, ou utilisez un autre moyen de connexion.",
            ),
            (Failure::IdentityNotActive, En) => (
                "Digital identity not active",
                "Your digital identity is not active (suspended or deactivated), so it cannot be used to log in to this service. Contact the authority that issued it, or use another way to log in.",
            ),
            (Failure::LevelUnavailable, Fr) => (
                "Niveau de sécurité non disponible",
                "Cette page demande un niveau de garantie d'identité qu'aucun des moyens de connexion proposés par ce service ne permet d'atteindre.",
            ),
            (Failure::LevelUnavailable, En) => (
                "Security level not available",
                "This page requires a level of identity assurance that none of this service's login methods can provide.",
            ),
            (Failure::IdentityTooLarge, Fr) => (
                "Identité trop longue",
                "Les données d'identité transmises par le fournisseur dépassent la taille que ce service peut recevoir. La connexion est refusée ; si le problème persiste, contactez le service.",
            ),
            (Failure::IdentityTooLarge, En) => (
                "Identity too long",
                "The identity data sent by the provider is larger than this service can receive. The login is refused; if this persists, contact the service.",
            ),
            (Failure::AssertionUnavailable, Fr) => (
                "Service momentanément indisponible",
                "Le service ne peut pas transmettre votre identité pour le moment. Veuillez réessayer dans quelques instants.",
            ),
            (Failure::AssertionUnavailable, En) => (
                "Service temporarily unavailable",
                "The service cannot pass on your identity right now. Please try again in a moment.",
            ),
            (Failure::StoreUnavailable, Fr) => (
                "Service momentanément indisponible",
                "Le service ne peut pas vérifier votre session pour le moment. Veuillez réessayer dans quelques instants.",
            ),
            (Failure::StoreUnavailable, En) => (
                "Service temporarily unavailable",
                "The service cannot check your session right now. Please try again in a moment.",
            ),
            (Failure::UpstreamUnavailable, Fr) => (
                "Service momentanément indisponible",
                "L'application ne répond pas pour le moment. Veuillez réessayer dans quelques instants.",
            ),
            (Failure::UpstreamUnavailable, En) => (
                "Service temporarily unavailable",
                "The application is not answering right now. Please try again in a moment.",
            ),
        }
    }
}

/// Renders pages with the deployment's settings.
pub struct Pages {
    service_name: String,
    other_login_url: Option<String>,
    prefix: String,
}

/// A link or button on a page.
pub struct Action {
    pub label: String,
    pub href: String,
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:0;color:#161616;background:#fff;line-height:1.5}\
header{border-bottom:1px solid #ddd;padding:1rem 1.5rem;font-weight:700}\
main{max-width:40rem;margin:2rem auto;padding:0 1.5rem}\
h1{font-size:1.75rem;margin:0 0 1rem}\
a{color:#000091}\
a:focus,button:focus{outline:3px solid #0a76f6;outline-offset:2px}\
.btn{display:inline-block;background:#000091;color:#fff;padding:.75rem 1.25rem;border:0;border-radius:.25rem;text-decoration:none;font-size:1rem;cursor:pointer;margin:.25rem 0}\
.btn:hover{background:#1212ff}\
.providers{list-style:none;padding:0}\
.providers li{margin:0 0 1.25rem}\
.help{display:block;font-size:.875rem;margin-top:.25rem}\
.sep{margin:1.25rem 0;font-weight:700}\
.code{font-family:monospace;font-size:.875rem;color:#3a3a3a}";

fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(crate::crypto::sha256(CSS.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Pages {
    pub fn new(cfg: &PagesConfig, prefix: &str) -> Pages {
        Pages {
            service_name: cfg.service_name.clone(),
            other_login_url: cfg.other_login_url.clone(),
            prefix: prefix.to_string(),
        }
    }

    /// A complete HTML page with guichet's security headers.
    pub fn page(&self, status: StatusCode, lang: Lang, title: &str, body: &str) -> Reply {
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} - {service}</title><style>{CSS}</style></head>\
             <body><header>{service}</header><main id=\"contenu\">{body}</main></body></html>\n",
            lang = lang.code(),
            title = escape(title),
            service = escape(&self.service_name),
        );
        let mut r = Reply::new(status);
        r.body = Bytes::from(html);
        let h = |name: HeaderName, v: &'static str| (name, HeaderValue::from_static(v));
        r.headers.extend([
            h(header::CONTENT_TYPE, "text/html; charset=utf-8"),
            h(header::CACHE_CONTROL, "no-store"),
            h(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            h(header::X_FRAME_OPTIONS, "DENY"),
            h(header::REFERRER_POLICY, "no-referrer"),
        ]);
        if let Ok(v) = HeaderValue::from_str(csp()) {
            r.headers.push((header::CONTENT_SECURITY_POLICY, v));
        }
        r
    }

    /// The page for a failure, with a way forward.
    pub fn failure(&self, failure: &Failure, lang: Lang) -> Reply {
        let (title, text) = failure.texts(lang);
        let again = match lang {
            Lang::Fr => "Retour à l'accueil du service",
            Lang::En => "Back to the service's home page",
        };
        let code = match failure {
            Failure::ProviderError(c) => format!(
                "<p class=\"code\">{}: {}</p>",
                if lang == Lang::Fr {
                    "Code d'erreur"
                } else {
                    "Error code"
                },
                escape(c)
            ),
            _ => String::new(),
        };
        let other = match failure {
            Failure::IdentityNotActive | Failure::LevelUnavailable => self.other_login_link(lang),
            _ => String::new(),
        };
        let body = format!(
            "<h1>{}</h1><p>{}</p>{code}{other}<p><a class=\"btn\" href=\"/\">{again}</a></p>",
            escape(title),
            escape(text)
        );
        self.page(failure.status(), lang, title, &body)
    }

    /// The link to the service's other way to log in (MConnect terms 5.1), if configured.
    fn other_login_link(&self, lang: Lang) -> String {
        match &self.other_login_url {
            Some(url) => format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(url),
                match lang {
                    Lang::Fr => "Se connecter autrement",
                    Lang::En => "Log in another way",
                }
            ),
            None => String::new(),
        }
    }

    /// Asks the citizen to confirm a logout that did not come from this site (a link on
    /// another site, a prefetch): the button posts the logout from this origin.
    pub fn logout_confirm(&self, lang: Lang) -> Reply {
        let (title, text, yes, no) = match lang {
            Lang::Fr => (
                "Se déconnecter ?",
                "Une demande de déconnexion provenant d'un autre site a été reçue. Voulez-vous vous déconnecter de ce service ?",
                "Me déconnecter",
                "Rester connecté",
            ),
            Lang::En => (
                "Log out?",
                "A logout request coming from another site was received. Do you want to log out of this service?",
                "Log me out",
                "Stay logged in",
            ),
        };
        let body = format!(
            "<h1>{title}</h1><p>{text}</p><form method=\"post\" action=\"{}/logout\">\
             <button class=\"btn\" type=\"submit\">{yes}</button></form><p><a href=\"/\">{no}</a></p>",
            escape(&self.prefix)
        );
        self.page(StatusCode::OK, lang, title, &body)
    }

    /// guichet's own "logged out" page.
    pub fn logged_out(&self, lang: Lang) -> Reply {
        let (title, text, again) = match lang {
            Lang::Fr => (
                "Vous êtes déconnecté",
                "Vous avez été déconnecté de ce service.",
                "Se reconnecter",
            ),
            Lang::En => (
                "You are logged out",
                "You have been logged out of this service.",
                "Log in again",
            ),
        };
        let body = format!(
            "<h1>{title}</h1><p>{text}</p><p><a class=\"btn\" href=\"{}/login\">{again}</a></p>",
            escape(&self.prefix)
        );
        self.page(StatusCode::OK, lang, title, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Pages {
        Pages::new(
            &PagesConfig {
                service_name: "Mairie <test>".into(),
                other_login_url: Some("/login-classique".into()),
                logged_out_url: None,
            },
            "/.guichet",
        )
    }

    #[test]
    fn pages_are_escaped_and_locked_down() {
        let r = pages().failure(&Failure::ProviderError("<b>x".into()), Lang::Fr);
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(body.contains("lang=\"fr\""));
        assert!(body.contains("Mairie &lt;test&gt;"));
        assert!(body.contains("&lt;b&gt;x"));
        assert!(!body.contains("<b>x"));
        let csp = r.header_value(&header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn an_inactive_identity_page_points_to_the_other_login_method() {
        for f in [Failure::IdentityNotActive, Failure::LevelUnavailable] {
            let r = pages().failure(&f, Lang::Fr);
            assert_eq!(r.status, StatusCode::FORBIDDEN);
            let body = String::from_utf8(r.body.to_vec()).unwrap();
            assert!(body.contains("href=\"/login-classique\""), "{body}");
            assert!(body.contains("Se connecter autrement"));
        }
        let body = pages().failure(&Failure::IdentityNotActive, Lang::En).body;
        assert!(String::from_utf8_lossy(&body).contains("not active"));
    }

    #[test]
    fn every_failure_has_both_languages_and_no_500() {
        let all = [
            Failure::InvalidRequest("x"),
            Failure::PathRefused,
            Failure::NotFound,
            Failure::UnknownProvider,
            Failure::LoginExpired,
            Failure::StateMismatch,
            Failure::Cancelled,
            Failure::ProviderError("e".into()),
            Failure::ProviderUnavailable,
            Failure::Verification("v".into()),
            Failure::InvalidIdentity("i".into()),
            Failure::IdentityNotActive,
            Failure::LevelUnavailable,
            Failure::IdentityTooLarge,
            Failure::AssertionUnavailable,
            Failure::StoreUnavailable,
            Failure::UpstreamUnavailable,
        ];
        for f in all {
            assert!(
                !f.status().is_server_error() || f.status() != StatusCode::INTERNAL_SERVER_ERROR
            );
            assert_ne!(f.texts(Lang::Fr).0, f.texts(Lang::En).0);
        }
    }
}
