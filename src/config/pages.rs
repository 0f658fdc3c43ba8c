//! `[pages]`: what the citizen sees on guichet's own pages, and what a service may change in
//! them (name, links, logo, colours, texts), validated into [`PagesConfig`].
//!
//! Invariants (tests in `config::tests`):
//! - Colours are `#rrggbb` and keep the RGAA contrast: white text on `primary` and `primary`
//!   links on white at least 4.5:1, header text on header background at least 4.5:1.
//! - The logo is read once at start (a file or a `data:` URL), must really be a PNG, JPEG,
//!   GIF, WebP or SVG of at most [`MAX_LOGO_BYTES`], and becomes a `data:` URL: the pages'
//!   `img-src 'self' data:` policy is enough, nothing is fetched from elsewhere.
//! - Texts are plain text (escaped when rendered), without control characters, at most
//!   [`MAX_TEXT_CHARS`] characters; unknown text keys are refused by name.

use super::{file, ConfigError, Validator};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// Largest logo accepted (it is inlined in every page).
pub const MAX_LOGO_BYTES: usize = 64 * 1024;

/// Longest overridden text.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Minimum contrast ratio for text (RGAA 3.2, WCAG 1.4.3 AA).
pub const MIN_CONTRAST: f64 = 4.5;

#[derive(Debug, Clone, Serialize)]
pub struct PagesConfig {
    pub service_name: String,
    pub other_login_url: Option<String>,
    pub logged_out_url: Option<String>,
    pub help_url: Option<String>,
    /// The accessibility statement, if any.
    pub accessibility_url: Option<String>,
    /// The compliance stated in the footer; `None`: no accessibility mention at all (neither
    /// `accessibility_url` nor `accessibility_compliance` configured).
    pub accessibility_compliance: Option<Compliance>,
    pub legal_notice_url: Option<String>,
    pub personal_data_url: Option<String>,
    /// The State's brand block and typeface (State services only).
    pub state_branding: bool,
    pub logo: Option<Logo>,
    pub logo_alt: String,
    pub colors: Colors,
    pub texts: Texts,
}

/// RGAA compliance of the service, as its accessibility statement gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compliance {
    /// "non conforme" (no audit, or under 50 % of the criteria met).
    None,
    /// "partiellement conforme" (at least 50 %).
    Partial,
    /// "totalement conforme" (every criterion met).
    Full,
}

impl Compliance {
    pub fn parse(s: &str) -> Option<Compliance> {
        match s {
            "none" => Some(Compliance::None),
            "partial" => Some(Compliance::Partial),
            "full" => Some(Compliance::Full),
            _ => None,
        }
    }
}

impl PagesConfig {
    /// Defaults only, with this service name (tests, the demo).
    pub fn named(service_name: &str) -> PagesConfig {
        PagesConfig {
            service_name: service_name.into(),
            other_login_url: None,
            logged_out_url: None,
            help_url: None,
            accessibility_url: None,
            accessibility_compliance: None,
            legal_notice_url: None,
            personal_data_url: None,
            state_branding: false,
            logo: None,
            logo_alt: String::new(),
            colors: Colors::default(),
            texts: Texts::default(),
        }
    }
}

/// A colour, `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    pub const WHITE: Rgb = Rgb([0xff, 0xff, 0xff]);

    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb([byte(0)?, byte(2)?, byte(4)?]))
    }

    /// `#rrggbb`, lowercase.
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }

    /// WCAG relative luminance.
    fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0[0]) + 0.7152 * lin(self.0[1]) + 0.0722 * lin(self.0[2])
    }

    /// WCAG contrast ratio, 1 to 21.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// The colour darkened by `percent` (hover states: contrast with white only grows).
    pub fn darker(self, percent: u8) -> Rgb {
        let keep = 100 - u16::from(percent.min(100));
        let d = |c: u8| u8::try_from(u16::from(c) * keep / 100).unwrap_or(c);
        Rgb([d(self.0[0]), d(self.0[1]), d(self.0[2])])
    }
}

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.css())
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Colors {
    pub primary: Rgb,
    pub header_background: Rgb,
    pub header_text: Rgb,
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            // Blue France, on white.
            primary: Rgb([0x00, 0x00, 0x91]),
            header_background: Rgb::WHITE,
            header_text: Rgb([0x16, 0x16, 0x16]),
        }
    }
}

/// An image inlined as a `data:` URL.
#[derive(Debug, Clone)]
pub struct Logo {
    pub mime: &'static str,
    pub data_url: String,
}

impl Serialize for Logo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "<{} logo, {} bytes as a data: URL>",
            self.mime,
            self.data_url.len()
        ))
    }
}

/// What the image's bytes say it is.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some("image/jpeg");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let head = text.trim_start_matches('\u{feff}').trim_start();
    let svg = (head.starts_with("<?xml") || head.starts_with("<svg") || head.starts_with("<!--"))
        && text.contains("<svg");
    svg.then_some("image/svg+xml")
}

/// Overridden texts, per language; `None` keeps guichet's own.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Texts {
    pub fr: PageTexts,
    pub en: PageTexts,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PageTexts {
    pub chooser_title: Option<String>,
    pub chooser_intro: Option<String>,
    pub logged_out_title: Option<String>,
    pub logged_out_text: Option<String>,
    pub error_help: Option<String>,
    pub footer: Option<String>,
}

impl Validator {
    pub(super) fn pages(&self, p: &file::PagesSection) -> Result<PagesConfig, ConfigError> {
        for (k, v) in [
            ("pages.other_login_url", &p.other_login_url),
            ("pages.logged_out_url", &p.logged_out_url),
            ("pages.help_url", &p.help_url),
            ("pages.accessibility_url", &p.accessibility_url),
            ("pages.legal_notice_url", &p.legal_notice_url),
            ("pages.personal_data_url", &p.personal_data_url),
        ] {
            if let Some(v) = v {
                if !v.starts_with('/') || v.starts_with("//") {
                    self.url(k, v)?;
                }
            }
        }
        let service_name = match &p.service_name {
            Some(n) => self.text("pages.service_name", n)?,
            None => "Service en ligne".into(),
        };
        let logo_alt = match &p.logo_alt {
            Some(a) => self.text("pages.logo_alt", a)?,
            None => String::new(),
        };
        let accessibility_compliance = match p.accessibility_compliance.as_deref() {
            Some(c) => Some(Compliance::parse(c).ok_or_else(|| {
                self.err(
                    "pages.accessibility_compliance",
                    format!("{c:?} is not one of \"none\", \"partial\", \"full\""),
                )
            })?),
            None => p.accessibility_url.as_ref().map(|_| Compliance::None),
        };
        Ok(PagesConfig {
            service_name,
            other_login_url: p.other_login_url.clone(),
            logged_out_url: p.logged_out_url.clone(),
            help_url: p.help_url.clone(),
            accessibility_url: p.accessibility_url.clone(),
            accessibility_compliance,
            legal_notice_url: p.legal_notice_url.clone(),
            personal_data_url: p.personal_data_url.clone(),
            state_branding: p.state_branding.unwrap_or(false),
            logo: p.logo.as_deref().map(|l| self.logo(l)).transpose()?,
            logo_alt,
            colors: self.colors(&p.colors)?,
            texts: Texts {
                fr: self.page_texts("fr", &p.texts.fr)?,
                en: self.page_texts("en", &p.texts.en)?,
            },
        })
    }

    fn text(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        if value.chars().count() > MAX_TEXT_CHARS {
            return Err(self.err(key, format!("at most {MAX_TEXT_CHARS} characters")));
        }
        if value.chars().any(char::is_control) {
            return Err(self.err(
                key,
                "must be one line of plain text (no control characters)",
            ));
        }
        Ok(value.to_string())
    }

    fn page_texts(&self, lang: &str, t: &file::PageTextsSection) -> Result<PageTexts, ConfigError> {
        let one = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| self.text(&format!("pages.texts.{lang}.{name}"), v))
                .transpose()
        };
        Ok(PageTexts {
            chooser_title: one("chooser_title", &t.chooser_title)?,
            chooser_intro: one("chooser_intro", &t.chooser_intro)?,
            logged_out_title: one("logged_out_title", &t.logged_out_title)?,
            logged_out_text: one("logged_out_text", &t.logged_out_text)?,
            error_help: one("error_help", &t.error_help)?,
            footer: one("footer", &t.footer)?,
        })
    }

    fn colors(&self, c: &file::ColorsSection) -> Result<Colors, ConfigError> {
        let d = Colors::default();
        let one = |name: &str, v: &Option<String>, default: Rgb| match v {
            None => Ok(default),
            Some(s) => Rgb::parse(s).ok_or_else(|| {
                self.err(
                    format!("pages.colors.{name}"),
                    format!("{s:?} is not a colour like \"#000091\""),
                )
            }),
        };
        let colors = Colors {
            primary: one("primary", &c.primary, d.primary)?,
            header_background: one(
                "header_background",
                &c.header_background,
                d.header_background,
            )?,
            header_text: one("header_text", &c.header_text, d.header_text)?,
        };
        let ratio = colors.primary.contrast(Rgb::WHITE);
        if ratio < MIN_CONTRAST {
            return Err(self.err(
                "pages.colors.primary",
                format!("contrast with white is {ratio:.1}:1; at least {MIN_CONTRAST}:1 is required (RGAA)"),
            ));
        }
        let ratio = colors.header_text.contrast(colors.header_background);
        if ratio < MIN_CONTRAST {
            return Err(self.err(
                "pages.colors.header_text",
                format!("contrast with header_background is {ratio:.1}:1; at least {MIN_CONTRAST}:1 is required (RGAA)"),
            ));
        }
        Ok(colors)
    }

    fn logo(&self, source: &str) -> Result<Logo, ConfigError> {
        let key = "pages.logo";
        let bytes = if let Some(path) = source.strip_prefix("file:") {
            let meta = std::fs::metadata(path)
                .map_err(|e| self.err(key, format!("cannot read {path:?}: {e}")))?;
            if meta.len() > MAX_LOGO_BYTES as u64 {
                return Err(self.err(key, format!("{path:?} is larger than 64 KiB")));
            }
            std::fs::read(path).map_err(|e| self.err(key, format!("cannot read {path:?}: {e}")))?
        } else if let Some(rest) = source.strip_prefix("data:") {
            let (head, data) = rest
                .split_once(',')
                .ok_or_else(|| self.err(key, "a data: URL needs a comma before its data"))?;
            if !head.ends_with(";base64") {
                return Err(self.err(
                    key,
                    "a data: URL logo must be base64 (data:image/png;base64,...)",
                ));
            }
            if data.len() > MAX_LOGO_BYTES * 4 / 3 + 4 {
                return Err(self.err(key, "the logo is larger than 64 KiB"));
            }
            STANDARD
                .decode(data.trim())
                .map_err(|e| self.err(key, format!("the data: URL is not valid base64: {e}")))?
        } else {
            return Err(self.err(
                key,
                "must be file:/path/to/logo or a data:image/...;base64,... URL",
            ));
        };
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(self.err(key, "the logo is larger than 64 KiB"));
        }
        let mime = sniff(&bytes)
            .ok_or_else(|| self.err(key, "not a PNG, JPEG, GIF, WebP or SVG image"))?;
        Ok(Logo {
            mime,
            data_url: format!("data:{mime};base64,{}", STANDARD.encode(&bytes)),
        })
    }
}
