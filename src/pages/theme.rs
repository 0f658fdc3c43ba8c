//! The look of guichet's pages: one inline style sheet, built once from the service's
//! colours ([`crate::config::Colors`]), and the `Content-Security-Policy` that allows exactly
//! that style sheet by its hash.
//!
//! Invariants:
//! - The policy stays strict whatever the configuration: `default-src 'none'`, the style by
//!   hash only, no script, images from `'self'` and `data:` only (the logo is a `data:` URL),
//!   forms to `'self'`, `frame-ancestors 'none'`, `base-uri 'none'`
//!   (`pages::tests::pages_are_escaped_and_locked_down`, `overrides_keep_the_policy_strict`).
//!   One exception, the replay page of a kept form: its own script by a fresh nonce, and no
//!   `form-action` ([`Theme::replay_csp`], `pages::replay::tests`).
//! - Configured colours are validated `#rrggbb` values (never raw text in the style sheet);
//!   the FranceConnect buttons keep their own colours, which the FranceConnect rules forbid
//!   changing.
//! - Focus is always visible (3px outline) and links stay underlined: no information by
//!   colour alone. Buttons get a border in forced colours (Windows high contrast), where
//!   their background is gone.
//! - The State's typeface (Marianne) and brand block only with `[pages] state_branding`.

use crate::config::Colors;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub struct Theme {
    pub css: String,
    pub csp: String,
    /// `'sha256-...'` of the style sheet.
    style_source: String,
}

impl Theme {
    /// The style sheet for these colours; `prefix`: where guichet serves its assets;
    /// `state_branding`: the State's brand block and typeface (opt-in).
    pub fn new(c: &Colors, prefix: &str, state_branding: bool) -> Theme {
        let primary = c.primary.css();
        let hover = c.primary.darker(25).css();
        let header_bg = c.header_background.css();
        let header_fg = c.header_text.css();
        // Marianne is the State's typeface: only for services that carry the State's brand
        // (and only when installed: guichet serves no font).
        let font = if state_branding {
            "Marianne,system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif"
        } else {
            "system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif"
        };
        let mut css = format!(
            "*,*::before,*::after{{box-sizing:border-box}}\
body{{font-family:{font};margin:0;color:#161616;background:#fff;line-height:1.5;display:flex;flex-direction:column;min-height:100vh}}\
.skip{{position:absolute;left:.5rem;top:-20rem;background:#fff;color:{primary};padding:.5rem 1rem;z-index:2}}\
.skip:focus{{top:.5rem}}\
header{{background:{header_bg};color:{header_fg};border-bottom:1px solid #dddddd;padding:1rem 1.5rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}}\
header img{{max-height:3.5rem;max-width:12rem}}\
.service{{font-weight:700;font-size:1.25rem;flex:1}}\
header .lang{{color:{header_fg};white-space:nowrap}}\
main{{flex:1;width:100%;max-width:42rem;margin:0 auto;padding:2rem 1.5rem}}\
main:focus{{outline:none}}\
footer{{border-top:1px solid #dddddd;padding:1rem 1.5rem;font-size:.875rem;color:#3a3a3a}}\
footer p{{margin:.25rem 0}}\
.links{{list-style:none;padding:0;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.25rem 1.5rem}}\
h1{{font-size:1.75rem;line-height:1.25;margin:0 0 1rem}}\
a{{color:{primary};text-decoration:underline;text-underline-offset:.15em}}\
a:hover{{text-decoration-thickness:2px}}\
a:focus,button:focus{{outline:3px solid #0a76f6;outline-offset:2px}}\
.btn{{display:inline-block;background:{primary};color:#fff;padding:.75rem 1.25rem;border:0;border-radius:.25rem;text-decoration:none;font:inherit;line-height:1.5;cursor:pointer;margin:.25rem 0}}\
.btn:hover{{background:{hover}}}\
.btn-secondary{{background:#fff;color:{primary};box-shadow:inset 0 0 0 2px {primary}}}\
.btn-secondary:hover{{background:#f0f0f0}}\
.actions{{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:1.5rem 0}}\
.providers{{list-style:none;padding:0;margin:0}}\
.providers li{{margin:0 0 1.5rem}}\
.fc{{position:relative;display:inline-flex;flex-direction:column;justify-content:center;align-items:flex-start;background:#000091;color:#f5f5fe;padding:.625em .75em .625em 4em;min-height:4.25em;text-decoration:none;line-height:1}}\
.fc:hover{{background:#1212ff}}\
.fc img{{position:absolute;left:.75em;top:50%;width:2.5em;height:3em;margin-top:-1.5em}}\
.fc-login,.fc-brand{{white-space:nowrap}}\
.fc-login{{font-size:1.0625em}}\
.fc-brand{{font-size:1.125em;font-weight:700;margin-top:.25em}}\
.help{{display:block;font-size:.875rem;margin-top:.75rem}}\
.lead{{margin:0 0 .75rem}}\
.sep{{display:flex;align-items:center;gap:1rem;max-width:20rem;margin:0 0 1.5rem;font-weight:700}}\
.sep::before,.sep::after{{content:'';flex:1;border-top:1px solid #929292}}\
.ref{{font-size:.875rem;color:#3a3a3a}}\
.ref code{{font-size:1rem;letter-spacing:.1em}}\
@media (forced-colors:active){{.btn,.fc,.btn-secondary{{border:2px solid}}}}"
        );
        if state_branding {
            // The design system's brand block (`fr-logo`), its images served by guichet.
            css.push_str(&format!(
                ".marque{{margin:0;padding:.25rem .5rem;background:#fff;color:#000;display:inline-block;font-weight:700;line-height:1.0317em;letter-spacing:-.01em;text-transform:uppercase;text-indent:-.1em;font-size:1.05rem}}\
.marque::before{{content:'';display:block;width:2.75rem;height:1rem;margin-bottom:.3333rem;background-repeat:no-repeat;background-size:2.75rem 1.125rem,2.75rem 1rem;background-position:0 -.0625rem,0 0;background-image:url({prefix}/assets/marianne.svg),linear-gradient(90deg,#000091 0%,#000091 50%,#e1000f 50%,#e1000f 100%);forced-color-adjust:none}}\
.marque::after{{content:'';display:block;min-width:2.625rem;background-repeat:no-repeat;background-size:5.25rem 3.75rem;background-position:0 calc(100% + 1.875rem);padding-top:2.2083rem;background-image:url({prefix}/assets/devise.svg)}}"
            ));
        }
        let hash = STANDARD.encode(crate::crypto::sha256(css.as_bytes()));
        let style_source = format!("'sha256-{hash}'");
        let csp = format!(
            "default-src 'none'; style-src {style_source}; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        Theme {
            css,
            csp,
            style_source,
        }
    }

    /// The policy of the replay page of a kept form ([`super::replay`]): the same, plus its
    /// one script by nonce, and no `form-action` (the application may answer the replayed
    /// POST with a redirect to another site, as it would have the first time).
    pub fn replay_csp(&self, nonce: &str) -> String {
        format!(
            "default-src 'none'; style-src {}; script-src 'nonce-{nonce}'; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'none'",
            self.style_source
        )
    }
}
