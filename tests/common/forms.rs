//! What a browser does with guichet's replay page of a kept form (`preserve_post`), for tests
//! that speak HTTP without a browser: read the page's form (action, encoding, fields in
//! order, files from their data attributes) and encode it the way browsers do
//! (`tests/browser.rs` checks a real browser does the same).

use super::Browser;
use base64::Engine;
use reqwest::Response;

/// A value as the replay page holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Text(String),
    File {
        filename: String,
        content_type: String,
        data: Vec<u8>,
    },
}

/// The form of a replay page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayForm {
    pub action: String,
    pub enctype: String,
    pub fields: Vec<(String, Field)>,
}

fn unescape(s: &str) -> String {
    s.replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `key="value"` attributes of one tag (values unescaped); bare attributes map to "".
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix("=\"") {
            let close = after.find('"').expect("closing quote");
            out.push((key, unescape(&after[..close])));
            rest = &after[close + 1..];
        } else {
            out.push((key, String::new()));
        }
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The form of a replay page, if the page has one.
pub fn replay_form(html: &str) -> Option<ReplayForm> {
    let start = html.find("<form id=\"guichet-form\"")?;
    let end = start + html[start..].find("</form>")?;
    let form = &html[start..end];
    let head = &form[..form.find('>')?];
    let fa = attributes(&head["<form".len()..]);
    let mut fields = Vec::new();
    for piece in form.split("<input ").skip(1) {
        let tag = &piece[..piece.find('>').expect("input end")];
        let a = attributes(tag);
        let name = attr(&a, "name").expect("name").to_string();
        let field = match attr(&a, "type") {
            Some("hidden") => Field::Text(attr(&a, "value").unwrap_or_default().to_string()),
            Some("file") => match attr(&a, "data-content") {
                Some(data) => Field::File {
                    filename: attr(&a, "data-filename").unwrap_or_default().to_string(),
                    content_type: attr(&a, "data-type").unwrap_or_default().to_string(),
                    data: base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .expect("base64"),
                },
                // No file chosen: browsers send an empty part.
                None => Field::File {
                    filename: String::new(),
                    content_type: "application/octet-stream".into(),
                    data: Vec::new(),
                },
            },
            other => panic!("unexpected input type {other:?}"),
        };
        fields.push((name, field));
    }
    Some(ReplayForm {
        action: attr(&fa, "action")?.to_string(),
        enctype: attr(&fa, "enctype")?.to_string(),
        fields,
    })
}

/// A multipart body as browsers write it (HTML: `"`, CR and LF escaped in names and
/// filenames).
pub fn multipart(boundary: &str, fields: &[(String, Field)]) -> Vec<u8> {
    let esc = |s: &str| {
        s.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let mut out = Vec::new();
    for (name, f) in fields {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match f {
            Field::Text(v) => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                        esc(name)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(v.as_bytes());
            }
            Field::File {
                filename,
                content_type,
                data,
            } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
                         Content-Type: {content_type}\r\n\r\n",
                        esc(name),
                        esc(filename)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

impl ReplayForm {
    /// The request a browser sends when the form is submitted: content type and body.
    pub fn encode(&self) -> (String, Vec<u8>) {
        match self.enctype.as_str() {
            "application/x-www-form-urlencoded" => {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (name, f) in &self.fields {
                    match f {
                        Field::Text(v) => s.append_pair(name, v),
                        Field::File { .. } => panic!("a file in an urlencoded form"),
                    };
                }
                (self.enctype.clone(), s.finish().into_bytes())
            }
            "multipart/form-data" => {
                let boundary = "----guichetTestBoundary7MA4YWxk";
                (
                    format!("multipart/form-data; boundary={boundary}"),
                    multipart(boundary, &self.fields),
                )
            }
            other => panic!("enctype {other}"),
        }
    }

    /// Submits the form from `browser` (its cookies), from the page at `base`.
    pub async fn submit(&self, browser: &Browser, base: &str) -> Response {
        let (ct, body) = self.encode();
        post(browser, &format!("{base}{}", self.action), &ct, body, base).await
    }
}

/// A same-origin form `POST` from `browser`, as a page of `origin` submits it (`Origin`,
/// `Sec-Fetch-Site: same-origin`).
pub async fn post(
    browser: &Browser,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    origin: &str,
) -> Response {
    post_with(
        browser,
        url,
        content_type,
        body,
        &[("origin", origin), ("sec-fetch-site", "same-origin")],
    )
    .await
}

/// A form `POST` from `browser` with exactly these extra headers.
pub async fn post_with(
    browser: &Browser,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Response {
    let mut rb = browser
        .client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("request")
}
