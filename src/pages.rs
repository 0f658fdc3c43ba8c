//! The pages citizens see (errors, provider chooser, logged out, logout confirmation), in
//! French by default and English on request, and the one place where a [`Failure`] becomes a
//! status and a page.
//!
//! Pages are fixed templates with slots the service fills from `[pages]`: its name, logo
//! (inlined `data:` URL), colours (validated, contrast-checked), footer links (accessibility
//! statement with its compliance, legal notice, personal data, help) and a few texts
//! ([`crate::config::PagesConfig`]). Parts: [`failure`] (the failures and their pages),
//! [`texts`] (their words, French typography), [`theme`] (style sheet and policy),
//! [`chooser`] (the login buttons, the official FranceConnect button), [`logout`] (logout
//! confirmation, logged out, still logged in), [`assets`] (the FranceConnect logo and the
//! State's brand, vendored from the State design system and served under `/.guichet/assets/`).
//!
//! Invariants:
//! - Every dynamic or configured value is HTML-escaped ([`escape`]); no configured value is
//!   ever HTML (`tests::overrides_are_escaped`).
//! - Pages load nothing from elsewhere: one inline style sheet allowed by its hash in a
//!   strict `Content-Security-Policy`, no script, images from guichet itself or `data:`,
//!   `frame-ancestors 'none'` ([`theme`], `tests::pages_are_escaped_and_locked_down`).
//! - RGAA basics: `lang` on every page (and on words of the other language), one `h1`,
//!   landmarks (`header`, `main`, `footer`), a skip link first, the document order is the
//!   reading and focus order, links are text and underlined, contrast checked at
//!   configuration time (`tests::every_page_has_the_basics`).
//! - Every page links to itself in the other language with a URL guichet can answer again
//!   without side effects: a failure page through `/.guichet/error`, never the callback it
//!   was shown on, the logout confirmation through `logout?confirm=1`, never a bare logout
//!   (`tests::the_language_switch_never_replays_an_action`).
//! - French pages follow French typography (non-breaking space before `?`, `!`, `;`, `:`)
//!   and both languages use one apostrophe, `’` (`tests::french_typography_on_every_page`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/pages.rs`, `src/pages/`
//! The one place where a [`Failure`] (`pages/failure.rs`: status, reason
//! code, bounded metric reason, whether it counts against the client, its page and the page key
//! `/.guichet/error` shows it again by) becomes a status and an HTML page; the words
//! (`pages/texts.rs`, French and English, set in type: `’`, and in
//! French no-break spaces before `: ? ! ;`); the chooser
//! (`pages/chooser.rs`: the design system's FranceConnect button with
//! its logo, FranceConnect+ with its sentence, English from the design system's i18n, the
//! step-up wording); the logout pages (`pages/logout.rs`: confirmation
//! with the logout token, logged out, still logged in, the page that leaves for the provider);
//! the style sheet and policy (`pages/theme.rs`); vendored images
//! (`pages/assets.rs`, from `@gouvfr/dsfr` 1.15.3, provenance in
//! `pages/assets/README.md`, served under `/.guichet/assets/`).
//! Every page has a skip link, the language switch (which the gateway remembers in the
//! `guichet-lang` cookie) and the footer links. The service fills fixed slots from `[pages]`
//! (`config/pages.rs`: logo as a `data:` URL checked to be an image,
//! `#rrggbb` colours checked for 4.5:1 contrast, plain one-line texts, footer links and the
//! accessibility compliance, `state_branding`). Full user documentation:
//! `docs/pages.md`.
//! **Invariants.** Dynamic and configured text is escaped (`pages::tests::pages_are_escaped_and_locked_down`,
//! `overrides_are_escaped`); one inline style allowed by its hash, no script (except the form replay page's own, by a
//! fresh nonce, and without `form-action`: `pages::replay::tests`), `default-src 'none'`,
//! `img-src 'self' data:`, `frame-ancestors 'none'` whatever the configuration
//! (`overrides_keep_the_policy_strict`), assets are plain SVG served with a `sandbox` policy
//! (`assets::tests::assets_are_plain_svg_served_locked_down`); every failure has both
//! languages, one `h1`, landmarks, and no 500 (`every_failure_has_both_languages_and_no_500`);
//! every page has the skip link, the other language marked, the footer links and no icon
//! request (`every_page_has_the_basics`); the language switch never replays an action (a
//! failure page switches through `/.guichet/error`, the confirmation through `?confirm=1`:
//! `the_language_switch_never_replays_an_action`, `tests/logout.rs::the_confirmation_in_the_other_language_never_logs_out`);
//! retry links carry the journey and references are the id's last 8 characters
//! (`retry_links_carry_the_journey_and_references_are_short`,
//! `tests/journeys.rs::a_cancelled_step_up_retries_to_the_same_page_and_level`); French
//! typography and one apostrophe on every page (`french_typography_on_every_page`); English is
//! complete and French words in it are marked (`english_is_complete_and_marked`); the step-up
//! says the citizen is logged in, why, and how back
//! (`chooser::tests::a_step_up_says_the_citizen_is_logged_in_why_and_how_back`); the 429 page
//! offers no button back to itself (`throttled_pages_say_when_to_retry`); provider errors get
//! their own words and a way forward (`provider_errors_get_plain_words_and_a_way_forward`);
//! colours that would break contrast, logos that are not images or too large, unknown text
//! keys and bad footer links are refused at start (`config::ops_tests::*`); in a real browser
//! every journey works and every page passes axe-core (WCAG 2.1 A/AA), with focus order,
//! visible focus, 375 px without scrolling and forced colours checked
//! (`tests/browser.rs::citizen_journeys_in_a_real_browser`, `make test`).

mod assets;
mod chooser;
mod failure;
mod logout;
mod replay;
mod texts;
mod theme;

pub use assets::asset;
pub use chooser::ChooserEntry;
pub use failure::{from_provider_error, is_reference, Failure};

use crate::config::{Compliance, PageTexts, PagesConfig};
use crate::vocab::Level;
use crate::web::{Lang, Reply};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use texts::say;
use theme::Theme;

/// Renders pages with the deployment's settings.
pub struct Pages {
    cfg: PagesConfig,
    prefix: String,
    theme: Theme,
    csp: HeaderValue,
    /// Does the service's home page (`/`) need a login? Then a page that cannot lead to a
    /// login (too many attempts) offers no "back to the service" button that would only come
    /// back to it.
    home_needs_login: bool,
}

/// Where the citizen was going when guichet stepped in: the page and the level it needs.
/// Retry and language links carry it, so the journey ends where it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    /// A same-origin path and query ([`crate::policy::safe_return_to`]).
    pub return_to: String,
    /// The level the page asked for (step-up), if any.
    pub level: Option<Level>,
}

impl Journey {
    /// Appends `return_to` (unless `/`, the default) and `level` to a query.
    fn append_to(&self, q: &mut url::form_urlencoded::Serializer<'_, String>) {
        if self.return_to != "/" {
            q.append_pair("return_to", &self.return_to);
        }
        if let Some(l) = self.level {
            q.append_pair("level", l.eidas());
        }
    }
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

/// The part of a request id a citizen reads out: its last 8 characters (the whole id is in
/// the evidence log, where these 8 find it).
pub fn short_reference(request_id: &str) -> &str {
    let start = request_id.len().saturating_sub(8);
    request_id.get(start..).unwrap_or(request_id)
}

/// A URL of guichet's own with this query (`prefix/leaf?query`).
fn own_href(prefix: &str, leaf: &str, query: String) -> String {
    if query.is_empty() {
        format!("{prefix}/{leaf}")
    } else {
        format!("{prefix}/{leaf}?{query}")
    }
}

impl Pages {
    pub fn new(cfg: &PagesConfig, prefix: &str, home_needs_login: bool) -> Pages {
        let theme = Theme::new(&cfg.colors, prefix, cfg.state_branding);
        Pages {
            csp: HeaderValue::from_str(&theme.csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
            theme,
            cfg: cfg.clone(),
            prefix: prefix.to_string(),
            home_needs_login,
        }
    }

    /// The service's texts for this language.
    fn texts(&self, lang: Lang) -> &PageTexts {
        match lang {
            Lang::Fr => &self.cfg.texts.fr,
            Lang::En => &self.cfg.texts.en,
        }
    }

    /// `prefix/leaf?...&lang=OTHER`: the link to the same page in the other language.
    fn switch_href(&self, lang: Lang, leaf: &str, query: impl FnOnce(&mut Query)) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        query(&mut q);
        q.append_pair("lang", lang.other().code());
        own_href(&self.prefix, leaf, q.finish())
    }

    fn header(&self, lang: Lang, switch: &str) -> String {
        let marque = if self.cfg.state_branding {
            // The State's brand block: Marianne and the motto come from the style sheet.
            "<p class=\"marque\">République<br>Française</p>"
        } else {
            ""
        };
        let logo = match &self.cfg.logo {
            Some(l) => format!(
                "<img src=\"{}\" alt=\"{}\">",
                escape(&l.data_url),
                escape(&self.cfg.logo_alt)
            ),
            None => String::new(),
        };
        if switch.is_empty() {
            // A page that cannot be shown again (the kept form's replay) has no switch.
            return format!(
                "<header>{marque}{logo}<span class=\"service\">{}</span></header>",
                escape(&self.cfg.service_name)
            );
        }
        let other = lang.other();
        let (label, aria) = match other {
            Lang::En => ("English", "Read this page in English"),
            Lang::Fr => ("Français", "Lire cette page en français"),
        };
        format!(
            "<header>{marque}{logo}<span class=\"service\">{}</span>\
             <a class=\"lang\" href=\"{}\" lang=\"{code}\" hreflang=\"{code}\" aria-label=\"{aria}\">{label}</a></header>",
            escape(&self.cfg.service_name),
            escape(switch),
            code = other.code(),
            aria = say(other, aria),
        )
    }

    fn footer(&self, lang: Lang) -> String {
        let fr = lang == Lang::Fr;
        let mut links = String::new();
        let link = |links: &mut String, url: &Option<String>, label: &str| {
            if let Some(url) = url {
                links.push_str(&format!(
                    "<li><a href=\"{}\">{}</a></li>",
                    escape(url),
                    say(lang, label)
                ));
            }
        };
        if let Some(c) = self.cfg.accessibility_compliance {
            let label = match (c, fr) {
                (Compliance::None, true) => "Accessibilité : non conforme",
                (Compliance::Partial, true) => "Accessibilité : partiellement conforme",
                (Compliance::Full, true) => "Accessibilité : totalement conforme",
                (Compliance::None, false) => "Accessibility: not compliant",
                (Compliance::Partial, false) => "Accessibility: partially compliant",
                (Compliance::Full, false) => "Accessibility: fully compliant",
            };
            match &self.cfg.accessibility_url {
                Some(_) => link(&mut links, &self.cfg.accessibility_url, label),
                None => links.push_str(&format!("<li>{}</li>", say(lang, label))),
            }
        }
        link(
            &mut links,
            &self.cfg.legal_notice_url,
            if fr {
                "Mentions légales"
            } else {
                "Legal notice"
            },
        );
        link(
            &mut links,
            &self.cfg.personal_data_url,
            if fr {
                "Données personnelles"
            } else {
                "Personal data"
            },
        );
        link(
            &mut links,
            &self.cfg.help_url,
            if fr {
                "Aide et contact"
            } else {
                "Help and contact"
            },
        );
        let mut parts = String::new();
        if !links.is_empty() {
            parts.push_str(&format!("<ul class=\"links\">{links}</ul>"));
        }
        if let Some(text) = &self.texts(lang).footer {
            parts.push_str(&format!("<p>{}</p>", escape(text)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("<footer>{parts}</footer>")
        }
    }

    /// A complete HTML page with guichet's security headers. `title` and `body` are HTML
    /// (text in them escaped by the caller); `switch` is the same page in the other language.
    fn page(&self, status: StatusCode, lang: Lang, title: &str, body: &str, switch: &str) -> Reply {
        self.page_with_head(status, lang, title, body, switch, "")
    }

    /// [`Pages::page`] with more in the `head` (HTML).
    fn page_with_head(
        &self,
        status: StatusCode,
        lang: Lang,
        title: &str,
        body: &str,
        switch: &str,
        head: &str,
    ) -> Reply {
        let skip = match lang {
            Lang::Fr => "Aller au contenu",
            Lang::En => "Skip to content",
        };
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             {head}<title>{title} - {service}</title><link rel=\"icon\" href=\"data:,\">\
             <style>{css}</style></head>\
             <body><a class=\"skip\" href=\"#contenu\">{skip}</a>{header}\
             <main id=\"contenu\" tabindex=\"-1\">{body}</main>{footer}</body></html>\n",
            lang = lang.code(),
            title = title,
            service = escape(&self.cfg.service_name),
            css = self.theme.css,
            header = self.header(lang, switch),
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
            // Page URLs carry codes, states and the application's paths: none leaves by a
            // Referer, not even to the application (docs/pages.md, "Referrer policy").
            h(header::REFERRER_POLICY, "no-referrer"),
        ]);
        r.headers
            .push((header::CONTENT_SECURITY_POLICY, self.csp.clone()));
        r
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

    /// "Back to the service's home page" as a button of this class.
    fn home_button(&self, lang: Lang, class: &str) -> String {
        format!(
            "<a class=\"{class}\" href=\"/\">{}</a>",
            say(
                lang,
                match lang {
                    Lang::Fr => "Retour à l'accueil du service",
                    Lang::En => "Back to the service's home page",
                }
            )
        )
    }
}

type Query = url::form_urlencoded::Serializer<'static, String>;

#[cfg(test)]
mod tests;
