//! The replay page of a kept form ("Votre formulaire va être envoyé"): after the login, the
//! browser posts the form it had sent without a session again, to the same URL, with the
//! same fields in the same order and encoding ([`crate::forms`]).
//!
//! The page holds one HTML form: a hidden input per text field, a file input per file part,
//! and a button. Its one script (allowed by a nonce, [`super::theme::Theme::replay_csp`])
//! puts the files back into their inputs (a `DataTransfer`: only a script can), then submits
//! at once; without scripts the citizen clicks the button (a form with files then cannot be
//! sent, and the page says so). The script reaches the form only by id and calls
//! `HTMLFormElement.prototype.submit`, so fields named `submit`, `id` or `action` cannot get
//! in its way; it sends once, and a page restored from the back-forward cache shows "already
//! sent" instead of the form.
//!
//! Invariants (`tests`): names and values are escaped, CR and LF as character references so
//! the browser sends them back unchanged; the policy allows exactly this page's script; the
//! page's referrer policy lets the replayed POST carry `Origin` (an application checking it
//! against CSRF sees its own origin) but no path.

use super::{escape, Pages};
use crate::forms::{KeptForm, Value};
use crate::web::{Lang, Reply};
use http::header::{self, HeaderValue};
use http::StatusCode;

/// Fills the file inputs, then submits once; see the module doc.
const SCRIPT: &str = "(function(){\
var form=document.getElementById('guichet-form'),send=document.getElementById('guichet-send');\
if(!form||!send)return;\
var files=document.querySelectorAll('#guichet-form input[type=file][data-content]');\
try{for(var i=0;i<files.length;i++){var el=files[i],raw=atob(el.getAttribute('data-content')),\
bytes=new Uint8Array(raw.length);for(var j=0;j<raw.length;j++)bytes[j]=raw.charCodeAt(j);\
var list=new DataTransfer();list.items.add(new File([bytes],el.getAttribute('data-filename'),\
{type:el.getAttribute('data-type')}));el.files=list.files;}}catch(e){return;}\
var sent=false;function go(){if(sent)return;sent=true;send.disabled=true;\
HTMLFormElement.prototype.submit.call(form);}\
document.addEventListener('submit',function(e){e.preventDefault();go();},true);\
window.addEventListener('pageshow',function(e){if(e.persisted){\
document.getElementById('guichet-replay').hidden=true;\
document.getElementById('guichet-sent').hidden=false;}});\
send.disabled=false;go();})();";

/// An attribute value: escaped, with CR and LF as character references (the HTML parser
/// would turn a raw CR LF into LF; a reference is kept as written).
fn attr(s: &str) -> String {
    escape(s).replace('\r', "&#13;").replace('\n', "&#10;")
}

impl Pages {
    /// The replay page for `form`, its script allowed by `nonce`.
    pub fn replay(&self, lang: Lang, form: &KeptForm, nonce: &str) -> Reply {
        let fr = lang == Lang::Fr;
        let (title, text, button, skip, sent, no_script) = if fr {
            (
                "Votre formulaire va être envoyé",
                "Vous êtes connecté. Le formulaire que vous aviez envoyé alors que votre session avait pris fin est maintenant transmis au service, tel que vous l'aviez rempli.",
                "Envoyer le formulaire",
                "Ne pas l'envoyer",
                "Ce formulaire a été envoyé. Il ne sera pas envoyé une seconde fois.",
                "Ce formulaire contient des fichiers, que seul JavaScript peut joindre de nouveau. Activez JavaScript, ou remplissez de nouveau le formulaire.",
            )
        } else {
            (
                "Your form is about to be sent",
                "You are logged in. The form you sent after your session had ended is now passed on to the service, as you filled it in.",
                "Send the form",
                "Do not send it",
                "This form was sent. It will not be sent a second time.",
                "This form holds files, which only JavaScript can attach again. Turn JavaScript on, or fill in the form again.",
            )
        };
        let files = form.has_file_contents();
        let mut inputs = String::new();
        for f in &form.fields {
            let name = attr(&f.name);
            match &f.value {
                Value::Text(v) => inputs.push_str(&format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    attr(v)
                )),
                // No file chosen: an empty file input sends the same empty part.
                Value::File { filename, data, .. } if filename.is_empty() && data.is_empty() => {
                    inputs.push_str(&format!("<input type=\"file\" name=\"{name}\" hidden>"))
                }
                Value::File {
                    filename,
                    content_type,
                    data,
                } => inputs.push_str(&format!(
                    "<input type=\"file\" name=\"{name}\" hidden data-filename=\"{}\" \
                     data-type=\"{}\" data-content=\"{}\">",
                    attr(filename),
                    attr(content_type),
                    attr(data)
                )),
            }
        }
        let enctype = form.encoding.enctype();
        let body = format!(
            "<h1>{title}</h1><p>{text}</p>{noscript}\
             <div id=\"guichet-replay\"><form id=\"guichet-form\" method=\"post\" action=\"{action}\" \
             enctype=\"{enctype}\" accept-charset=\"UTF-8\">{inputs}<div class=\"actions\">\
             <button class=\"btn\" type=\"submit\" id=\"guichet-send\"{disabled}>{button}</button>\
             <a href=\"/\">{skip}</a></div></form></div>\
             <p id=\"guichet-sent\" hidden>{sent}</p>\
             <script nonce=\"{nonce}\">{SCRIPT}</script>",
            noscript = if files {
                format!("<noscript><p>{no_script}</p></noscript>")
            } else {
                String::new()
            },
            action = attr(&form.action),
            disabled = if files { " disabled" } else { "" },
            nonce = attr(nonce),
        );
        // No language switch: the page can be shown once, a link to it again would find it used.
        let mut reply = self.page(StatusCode::OK, lang, title, &body, "");
        reply
            .headers
            .retain(|(n, _)| n != header::CONTENT_SECURITY_POLICY && n != header::REFERRER_POLICY);
        if let Ok(csp) = HeaderValue::from_str(&self.theme.replay_csp(nonce)) {
            reply.headers.push((header::CONTENT_SECURITY_POLICY, csp));
        }
        // `Origin` is sent on the replayed POST (`no-referrer` would make it `null`), the
        // `Referer` is the origin alone.
        reply.headers.push((
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin"),
        ));
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PagesConfig;
    use crate::forms::{Encoding, Field};

    fn pages() -> Pages {
        Pages::new(&PagesConfig::named("Mairie"), "/.guichet", false)
    }

    fn form(fields: Vec<Field>, encoding: Encoding) -> KeptForm {
        KeptForm {
            action: "/demarche?etape=2&x=\"y\"".into(),
            encoding,
            fields,
            author: None,
        }
    }

    fn text(name: &str, value: &str) -> Field {
        Field {
            name: name.into(),
            value: Value::Text(value.into()),
        }
    }

    fn body(r: &Reply) -> String {
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    #[test]
    fn fields_are_escaped_in_order_and_line_breaks_survive() {
        let f = form(
            vec![
                text("csrf", "t0k\"en"),
                text("nom", "Élodie <b>&</b>"),
                text("commentaire", "ligne 1\r\nligne 2"),
                text("nom", "second"),
            ],
            Encoding::Urlencoded,
        );
        let r = pages().replay(Lang::Fr, &f, "n0nce");
        let b = body(&r);
        assert!(b.contains("Votre formulaire va être envoyé"), "{b}");
        let inputs: Vec<&str> = b.split("<input ").skip(1).collect();
        assert_eq!(inputs.len(), 4);
        assert!(inputs[0].starts_with("type=\"hidden\" name=\"csrf\" value=\"t0k&quot;en\""));
        assert!(inputs[1].contains("value=\"Élodie &lt;b&gt;&amp;&lt;/b&gt;\""));
        assert!(inputs[2].contains("value=\"ligne 1&#13;&#10;ligne 2\""));
        assert!(inputs[3].contains("name=\"nom\" value=\"second\""));
        assert!(!b.contains("<b>"));
        assert!(b.contains(
            "action=\"/demarche?etape=2&amp;x=&quot;y&quot;\" enctype=\"application/x-www-form-urlencoded\""
        ));
        // The button has no name: it adds no field.
        assert!(b.contains("<button class=\"btn\" type=\"submit\" id=\"guichet-send\">"));
        assert!(!b.contains("<noscript>"));
    }

    #[test]
    fn the_policy_allows_exactly_this_script_and_origin_is_sent() {
        let f = form(vec![text("a", "b")], Encoding::Urlencoded);
        let r = pages().replay(Lang::En, &f, "abc123");
        let b = body(&r);
        assert!(b.contains("Your form is about to be sent"));
        assert!(b.contains("<script nonce=\"abc123\">"));
        assert_eq!(b.matches("<script").count(), 1);
        let csp = r.header_value(&header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.contains("script-src 'nonce-abc123'"), "{csp}");
        for part in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n == header::CONTENT_SECURITY_POLICY)
                .count(),
            1
        );
        assert_eq!(
            r.header_value(&header::REFERRER_POLICY),
            Some("strict-origin")
        );
        assert_eq!(r.header_value(&header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(r.header_value(&header::X_FRAME_OPTIONS), Some("DENY"));
    }

    #[test]
    fn file_parts_need_the_script_and_empty_ones_do_not() {
        let empty = Field {
            name: "piece".into(),
            value: Value::File {
                filename: String::new(),
                content_type: "application/octet-stream".into(),
                data: String::new(),
            },
        };
        let f = form(vec![text("a", "b"), empty.clone()], Encoding::Multipart);
        let b = body(&pages().replay(Lang::Fr, &f, "n"));
        assert!(
            b.contains("<input type=\"file\" name=\"piece\" hidden>"),
            "{b}"
        );
        assert!(b.contains("enctype=\"multipart/form-data\""));
        assert!(!b.contains(" disabled>"));

        let file = Field {
            name: "justificatif".into(),
            value: Value::File {
                filename: "facture \"mai\".pdf".into(),
                content_type: "application/pdf".into(),
                data: crate::forms::encode_file(b"%PDF-1.4"),
            },
        };
        let f = form(vec![file, empty], Encoding::Multipart);
        let b = body(&pages().replay(Lang::Fr, &f, "n"));
        assert!(b.contains(
            "data-filename=\"facture &quot;mai&quot;.pdf\" data-type=\"application/pdf\" data-content=\"JVBERi0xLjQ=\""
        ), "{b}");
        // Without scripts the button stays disabled and the page says why.
        assert!(b.contains("id=\"guichet-send\" disabled>"));
        assert!(b.contains("<noscript><p>Ce formulaire contient des fichiers"));
    }
}
