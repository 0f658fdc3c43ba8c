//! The pages citizens see (errors, provider chooser, logged out, logout confirmation), in
//! French by default and English on request, and the one place where a [`Failure`] becomes a
//! status and a page.
//!
//! Pages are fixed templates with slots the service fills from `[pages]`: its name, logo
//! (inlined `data:` URL), colours (validated, contrast-checked), help link, footer and a few
//! texts ([`crate::config::PagesConfig`]). Parts: [`failure`] (the failures), [`texts`] (their
//! words), [`theme`] (style sheet and policy), [`chooser`] (the login buttons, official
//! FranceConnect wording).
//!
//! Invariants:
//! - Every dynamic or configured value is HTML-escaped ([`escape`]); no configured value is
//!   ever HTML (`tests::overrides_are_escaped`).
//! - Pages load nothing from elsewhere: one inline style sheet allowed by its hash in a
//!   strict `Content-Security-Policy`, no script, `frame-ancestors 'none'`
//!   ([`theme`], `tests::pages_are_escaped_and_locked_down`).
//! - RGAA basics: `lang` on every page (and `lang="fr"` on French words in English pages),
//!   one `h1`, landmarks (`header`, `main`, `footer`), the document order is the reading and
//!   focus order, links are text and underlined, contrast checked at configuration time.

mod chooser;
mod failure;
mod replay;
mod texts;
mod theme;

pub use chooser::ChooserEntry;
pub use failure::{from_provider_error, Failure};

use crate::config::{PageTexts, PagesConfig};
use crate::web::{Lang, Reply};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use theme::Theme;

/// Renders pages with the deployment's settings.
pub struct Pages {
    cfg: PagesConfig,
    prefix: String,
    theme: Theme,
    csp: HeaderValue,
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
        let theme = Theme::new(&cfg.colors);
        Pages {
            csp: HeaderValue::from_str(&theme.csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
            theme,
            cfg: cfg.clone(),
            prefix: prefix.to_string(),
        }
    }

    /// The service's texts for this language.
    fn texts(&self, lang: Lang) -> &PageTexts {
        match lang {
            Lang::Fr => &self.cfg.texts.fr,
            Lang::En => &self.cfg.texts.en,
        }
    }

    fn header(&self) -> String {
        let logo = match &self.cfg.logo {
            Some(l) => format!(
                "<img src=\"{}\" alt=\"{}\">",
                escape(&l.data_url),
                escape(&self.cfg.logo_alt)
            ),
            None => String::new(),
        };
        format!(
            "<header>{logo}<span class=\"service\">{}</span></header>",
            escape(&self.cfg.service_name)
        )
    }

    fn footer(&self, lang: Lang) -> String {
        let mut parts = String::new();
        if let Some(text) = &self.texts(lang).footer {
            parts.push_str(&format!("<p>{}</p>", escape(text)));
        }
        if let Some(url) = &self.cfg.help_url {
            let label = match lang {
                Lang::Fr => "Aide et contact",
                Lang::En => "Help and contact",
            };
            parts.push_str(&format!("<p><a href=\"{}\">{label}</a></p>", escape(url)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("<footer>{parts}</footer>")
        }
    }

    /// A complete HTML page with guichet's security headers.
    pub fn page(&self, status: StatusCode, lang: Lang, title: &str, body: &str) -> Reply {
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} - {service}</title><style>{css}</style></head>\
             <body>{header}<main id=\"contenu\">{body}</main>{footer}</body></html>\n",
            lang = lang.code(),
            title = escape(title),
            service = escape(&self.cfg.service_name),
            css = self.theme.css,
            header = self.header(),
            footer = self.footer(lang),
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
        r.headers
            .push((header::CONTENT_SECURITY_POLICY, self.csp.clone()));
        r
    }

    /// The page for a failure, with what the citizen can do next. `request_id` is shown as a
    /// reference the citizen can quote to the service (it is in the evidence log too).
    pub fn failure(&self, failure: &Failure, lang: Lang, request_id: Option<&str>) -> Reply {
        let fr = lang == Lang::Fr;
        let (title, text) = texts::texts(failure, lang);
        let mut body = format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text));
        match failure {
            Failure::ProviderError(c) => body.push_str(&format!(
                "<p class=\"ref\">{}{}</p>",
                if fr {
                    "Code d'erreur du fournisseur : "
                } else {
                    "Provider error code: "
                },
                escape(c)
            )),
            Failure::Throttled { retry_after } => {
                let minutes = retry_after.div_ceil(60).max(1);
                body.push_str(&format!(
                    "<p>{}</p>",
                    match (fr, minutes) {
                        (true, 1) => "Vous pourrez réessayer dans une minute.".to_string(),
                        (true, m) => format!("Vous pourrez réessayer dans {m} minutes."),
                        (false, 1) => "You can try again in one minute.".to_string(),
                        (false, m) => format!("You can try again in {m} minutes."),
                    }
                ));
            }
            _ => {}
        }
        if let Some(help) = &self.texts(lang).error_help {
            body.push_str(&format!("<p>{}</p>", escape(help)));
        }
        let mut actions = String::new();
        let retry = matches!(
            failure,
            Failure::Cancelled
                | Failure::LoginRequired(_)
                | Failure::LoginExpired
                | Failure::StateMismatch
                | Failure::LevelTooLow
                | Failure::ProviderDown(_)
                | Failure::ProviderUnavailable
                | Failure::ProviderError(_)
        );
        if retry {
            actions.push_str(&format!(
                "<a class=\"btn\" href=\"{}/login\">{}</a>",
                escape(&self.prefix),
                if fr {
                    "Se connecter à nouveau"
                } else {
                    "Log in again"
                }
            ));
        }
        let other = matches!(
            failure,
            Failure::Cancelled
                | Failure::LoginRequired(_)
                | Failure::IdentityNotActive
                | Failure::LevelUnavailable
                | Failure::LevelTooLow
                | Failure::ProviderDown(_)
                | Failure::ProviderUnavailable
        );
        if other {
            actions.push_str(&self.other_login_link(lang));
        }
        if matches!(failure, Failure::FormTooLarge | Failure::FormNotKept) {
            // This tab still has the filled form one step back: log in elsewhere, come back.
            actions.push_str(&format!(
                "<a class=\"btn\" href=\"{}/login\" target=\"_blank\" rel=\"noopener\">{}</a>",
                escape(&self.prefix),
                if fr {
                    "Se connecter dans un nouvel onglet"
                } else {
                    "Log in in a new tab"
                }
            ));
        }
        let home_class = if retry || matches!(failure, Failure::FormTooLarge | Failure::FormNotKept)
        {
            "btn btn-secondary"
        } else {
            "btn"
        };
        actions.push_str(&format!(
            "<a class=\"{home_class}\" href=\"/\">{}</a>",
            if fr {
                "Retour à l'accueil du service"
            } else {
                "Back to the service's home page"
            }
        ));
        body.push_str(&format!("<div class=\"actions\">{actions}</div>"));
        if let Some(id) = request_id {
            body.push_str(&format!(
                "<p class=\"ref\">{} <code>{}</code></p>",
                if fr {
                    "Référence à communiquer au service si besoin :"
                } else {
                    "Reference to give the service if needed:"
                },
                escape(id)
            ));
        }
        let mut reply = self.page(failure.status(), lang, title, &body);
        if let Failure::Throttled { retry_after } = failure {
            reply
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
        }
        reply
    }

    /// The link to the service's other way to log in (MConnect terms 5.1), if configured.
    fn other_login_link(&self, lang: Lang) -> String {
        match &self.cfg.other_login_url {
            Some(url) => format!(
                "<a href=\"{}\">{}</a>",
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
            "<h1>{title}</h1><p>{text}</p><form method=\"post\" action=\"{}/logout\"><div class=\"actions\">\
             <button class=\"btn\" type=\"submit\">{yes}</button><a href=\"/\">{no}</a></div></form>",
            escape(&self.prefix)
        );
        self.page(StatusCode::OK, lang, title, &body)
    }

    /// guichet's own "logged out" page.
    pub fn logged_out(&self, lang: Lang) -> Reply {
        let (title, text, again, home) = match lang {
            Lang::Fr => (
                "Vous êtes déconnecté",
                "Vous avez été déconnecté de ce service. Pensez à fermer votre navigateur si vous utilisez un ordinateur partagé.",
                "Se reconnecter",
                "Retour à l'accueil du service",
            ),
            Lang::En => (
                "You are logged out",
                "You have been logged out of this service. Close your browser if you are using a shared computer.",
                "Log in again",
                "Back to the service's home page",
            ),
        };
        let own = self.texts(lang);
        let title = own.logged_out_title.as_deref().unwrap_or(title);
        let text = own.logged_out_text.as_deref().unwrap_or(text);
        let body = format!(
            "<h1>{}</h1><p>{}</p><div class=\"actions\"><a class=\"btn\" href=\"{}/login\">{again}</a>\
             <a class=\"btn btn-secondary\" href=\"/\">{home}</a></div>",
            escape(title),
            escape(text),
            escape(&self.prefix)
        );
        self.page(StatusCode::OK, lang, title, &body)
    }
}

#[cfg(test)]
mod tests;
