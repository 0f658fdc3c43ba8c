//! The documentation agrees with the code (issue 20). Fast, no network, no server:
//!
//! - every key of the configuration file, as the code's serde structs declare it
//!   (`guichet::config::file::FileConfig`, walked through serde itself, so a key added to the
//!   code is seen without anyone listing it), is documented exactly once in
//!   `docs/configuration.md`, the reference, and the reference names no key the code lacks;
//!   `config.example.toml` mentions every key too;
//! - every metric the code registers is in `docs/metrics.md`, which names no other;
//! - every claim guichet can forward is in `docs/headers.md`;
//! - the README's minimal configuration passes `guichet check`, with a key made by
//!   `guichet keygen`;
//! - every relative link (and `#anchor`) in `README.md` and `docs/*.md` points to something
//!   that exists.

use guichet::config::file::FileConfig;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ------------------------------------------------------------------ the keys the code knows

/// The segment standing for a key the operator chooses (a claim's name in
/// `[headers.claims.NAME]`); the reference writes it the same way.
const NAME: &str = "NAME";

/// A serde `Deserializer` that answers every question with an empty value and records the
/// field names of every struct it is asked for, under their dotted path. Lists are walked
/// through one element (`providers.decryption_keys.alg`), maps through one key, `NAME`.
struct Keys<'a> {
    path: String,
    seen: &'a RefCell<BTreeSet<String>>,
}

impl<'a> Keys<'a> {
    fn at(&self, segment: &str) -> Keys<'a> {
        let path = if self.path.is_empty() {
            segment.to_string()
        } else {
            format!("{}.{segment}", self.path)
        };
        Keys {
            path,
            seen: self.seen,
        }
    }
}

type Error = de::value::Error;

impl<'de> Deserializer<'de> for Keys<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "{}: a type this walk cannot see through (untagged or flattened?)",
            self.path
        )))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bool(false)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(0)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(0)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(0)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(0)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(0)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(0)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(0)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(0)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_f64(0.0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_f64(0.0)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_char('x')
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str("")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str("")
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bytes(b"")
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bytes(b"")
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        v.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_map(Entries {
            keys: vec![NAME],
            value: self,
            next: 0,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        for f in fields {
            self.seen.borrow_mut().insert(self.at(f).path);
        }
        v.visit_map(Entries {
            keys: fields.to_vec(),
            value: self,
            next: 0,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "{}: an enum; extend the walk",
            self.path
        )))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str("")
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

struct OneElement<'a>(Option<Keys<'a>>);

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|k| seed.deserialize(k)).transpose()
    }
}

/// A struct's fields, or a map's one key (`NAME`), each value walked at `path.key`.
struct Entries<'a> {
    keys: Vec<&'static str>,
    value: Keys<'a>,
    next: usize,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(key) = self.keys.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(IntoDeserializer::<Error>::into_deserializer(*key))
            .map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let key = self.keys[self.next];
        self.next += 1;
        seed.deserialize(self.value.at(key))
    }
}

/// Every key of the configuration file, as dotted paths (`server.tls.cert_file`,
/// `providers.decryption_keys.alg`, `headers.claims.NAME.drop`), containers included.
fn code_keys() -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    FileConfig::deserialize(Keys {
        path: String::new(),
        seen: &seen,
    })
    .unwrap_or_else(|e| panic!("walking the configuration structs: {e}"));
    seen.into_inner()
}

/// Keys with nothing below them.
fn leaves(keys: &BTreeSet<String>) -> BTreeSet<String> {
    keys.iter()
        .filter(|k| !keys.iter().any(|o| o.starts_with(&format!("{k}."))))
        .cloned()
        .collect()
}

fn covers(set: &BTreeSet<String>, key: &str) -> bool {
    set.contains(key) || set.iter().any(|o| o.starts_with(&format!("{key}.")))
}

#[test]
fn the_walk_sees_every_kind_of_key() {
    let keys = code_keys();
    for k in [
        "server.listen",
        "server.tls.cert_file",
        "upstream.url",
        "providers.client_secret",
        "providers.acr_levels",
        "providers.decryption_keys.kid",
        "session.seal_keys",
        "routes.min_level",
        "headers.claims.NAME.drop",
        "pages.colors.primary",
        "pages.texts.fr.chooser_title",
        "pages.texts.en.footer",
        "rate_limit.ipv6_prefix",
    ] {
        assert!(keys.contains(k), "{k} not seen; seen: {keys:?}");
    }
    assert!(leaves(&keys).len() > 100, "{}", leaves(&keys).len());
}

// ------------------------------------------------------------------ the reference

/// The backtick spans of a line, outside escapes.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// A key as the reference writes it: `listen`, `decryption_keys[].alg`, `NAME` segments.
fn key_path(cell: &str) -> Option<String> {
    let k = cell.replace("[]", "");
    let ok = !k.is_empty()
        && k.split('.').all(|s| {
            !s.is_empty()
                && (s == NAME
                    || s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        });
    ok.then_some(k)
}

/// A section heading's tables: `[server]`, `[[providers]]`, `[headers.claims.NAME]`.
fn section_path(span: &str) -> Option<String> {
    let s = span.trim();
    if !(s.starts_with('[') && s.ends_with(']')) {
        return None;
    }
    key_path(s.trim_start_matches('[').trim_end_matches(']'))
}

/// Lines outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |l| {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// What `docs/configuration.md` documents, and how many times: each heading naming tables
/// (`## \`[server]\``) documents them and opens them; each table row under it whose first
/// cell is a key (`| \`listen\` | ...`) documents `server.listen`. A heading without a table
/// name closes them.
fn documented_keys(reference: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut sections: Vec<String> = Vec::new();
    for line in prose(reference) {
        let t = line.trim_start();
        if t.starts_with('#') {
            sections = code_spans(t).into_iter().filter_map(section_path).collect();
            for s in &sections {
                *out.entry(s.clone()).or_default() += 1;
            }
        } else if t.starts_with('|') && !sections.is_empty() {
            let first = t.split('|').nth(1).unwrap_or("").trim();
            let Some(key) = first
                .strip_prefix('`')
                .and_then(|r| r.split('`').next())
                .and_then(key_path)
            else {
                continue;
            };
            for s in &sections {
                *out.entry(format!("{s}.{key}")).or_default() += 1;
            }
        }
    }
    out
}

#[test]
fn every_configuration_key_is_in_the_reference_once() {
    let code = code_keys();
    let documented = documented_keys(&read("docs/configuration.md"));
    let doc_set: BTreeSet<String> = documented.keys().cloned().collect();
    let missing: Vec<_> = code.iter().filter(|k| !covers(&doc_set, k)).collect();
    assert!(
        missing.is_empty(),
        "keys of src/config/file.rs missing from docs/configuration.md (a row `| \\`key\\` | \
         default | meaning |` under the section's heading): {missing:?}"
    );
    let unknown: Vec<_> = doc_set.iter().filter(|k| !covers(&code, k)).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys the code does not have: {unknown:?}"
    );
    let twice: Vec<_> = documented.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "documented more than once in docs/configuration.md: {twice:?}"
    );
}

#[test]
fn the_reference_check_sees_a_missing_a_stale_and_a_doubled_key() {
    let reference = "\
## `[server]`

| key | default | meaning |
|---|---|---|
| `listen` | `\"127.0.0.1:8080\"` | where |
| `listen` | again | |
| `no_such_key` | | |

## Durations

| `30s` | not a key: no section is open |

### `[headers.claims.NAME]`, `[pages.texts.fr]`

| `drop` | | |
";
    let documented = documented_keys(reference);
    assert_eq!(documented["server.listen"], 2);
    assert_eq!(documented["server.no_such_key"], 1);
    assert_eq!(documented["headers.claims.NAME.drop"], 1);
    assert_eq!(documented["pages.texts.fr.drop"], 1);
    assert!(!documented.keys().any(|k| k.contains("30s")));
    let code = code_keys();
    let doc_set: BTreeSet<String> = documented.keys().cloned().collect();
    assert!(!covers(&doc_set, "server.public_url"));
    assert!(!covers(&code, "server.no_such_key"));
    assert!(covers(&code, "headers.claims.NAME"));
}

/// The keys a TOML value sets, as the code names them (`headers.claims.family_name.header`
/// is `headers.claims.NAME.header`).
fn toml_keys(v: &toml::Value, path: &str, code: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let direct = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let named = format!("{path}.{NAME}");
                let p = if covers(code, &direct) || !covers(code, &named) {
                    direct
                } else {
                    named
                };
                out.insert(p.clone());
                if !leaves(code).contains(&p) {
                    toml_keys(v, &p, code, out);
                }
            }
        }
        toml::Value::Array(items) => {
            for i in items {
                toml_keys(i, path, code, out);
            }
        }
        _ => {}
    }
}

#[test]
fn config_example_keys_are_in_the_reference_and_it_mentions_every_key() {
    let code = code_keys();
    let documented: BTreeSet<String> = documented_keys(&read("docs/configuration.md"))
        .into_keys()
        .collect();
    let text = read("config.example.toml");
    let example: toml::Value = toml::from_str(&text).expect("config.example.toml parses");
    let mut set = BTreeSet::new();
    toml_keys(&example, "", &code, &mut set);
    assert!(set.len() > 50, "{set:?}");
    let undocumented: Vec<_> = set.iter().filter(|k| !covers(&documented, k)).collect();
    assert!(
        undocumented.is_empty(),
        "keys of config.example.toml not in docs/configuration.md: {undocumented:?}"
    );
    // The annotated example shows every key, set or commented out (`# key = ...`, or inside
    // an inline table).
    let unmentioned: Vec<_> = leaves(&code)
        .into_iter()
        .filter(|k| {
            let last = k.rsplit('.').next().unwrap_or(k);
            !text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{last} ="))
                    || l.contains(&format!("{{ {last} ="))
                    || l.contains(&format!(", {last} ="))
            })
        })
        .collect();
    assert!(
        unmentioned.is_empty(),
        "keys config.example.toml does not show (even commented out): {unmentioned:?}"
    );
}

// ------------------------------------------------------------------ metrics

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `guichet_...` words of `text`; with `quoted`, only whole string literals (`"guichet_x"`).
fn metric_names(text: &str, quoted: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("guichet_") {
        let before = rest[..i].chars().next_back();
        let word: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let after = rest[i + word.len()..].chars().next();
        let boundary = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if boundary && (!quoted || (before == Some('"') && after == Some('"'))) {
            out.insert(word.clone());
        }
        rest = &rest[i + word.len()..];
    }
    out
}

/// Every metric name registered in `src/` (string literals `"guichet_..."`, wherever they
/// live).
fn code_metrics() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        out.extend(metric_names(&text, true));
    }
    out
}

fn series_metric(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[test]
fn every_metric_is_documented_and_nothing_else() {
    let code = code_metrics();
    assert!(code.len() > 20, "{code:?}");
    assert!(code.contains("guichet_logins_total"));
    let doc = read("docs/metrics.md");
    let documented: BTreeSet<String> = prose(&doc)
        .flat_map(code_spans)
        .flat_map(|s| metric_names(s, false))
        .map(|m| series_metric(&m).to_string())
        .collect();
    let missing: Vec<_> = code.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "metrics missing from docs/metrics.md: {missing:?}"
    );
    let stale: Vec<_> = documented.iter().filter(|m| !code.contains(*m)).collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md names metrics the code lacks: {stale:?}"
    );
    // The dashboard's metrics: tests/ops.rs::the_dashboard_plots_only_metrics_that_exist.
}

// ------------------------------------------------------------------ the binary

fn guichet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
}

const SECRET: &str = "a-client-secret-of-32-characters";

const MINIMAL_SETTINGS: &str = r#"
[server]
public_url = "https://demarches.example.fr"
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "franceconnect"
preset = "franceconnect-v2-integration"
client_id = "a-client-id"
client_secret = "env:GUICHET_FC_CLIENT_SECRET"
"#;

#[test]
fn every_claim_guichet_forwards_is_in_the_headers_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("guichet.toml");
    std::fs::write(
        &cfg,
        format!("{MINIMAL_SETTINGS}\n[headers.claims.zz_not_a_claim]\ndrop = true\n"),
    )
    .expect("write config");
    let out = guichet()
        .args(["check", "--config"])
        .arg(&cfg)
        .env("GUICHET_FC_CLIENT_SECRET", SECRET)
        .output()
        .expect("run guichet check");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let known: Vec<&str> = err
        .split("known: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of known claims in {err}"))
        .trim()
        .split(", ")
        .collect();
    assert!(
        known.len() > 20 && known.contains(&"given_name"),
        "{known:?}"
    );
    let doc = read("docs/headers.md");
    let spans: BTreeSet<&str> = prose(&doc).flat_map(code_spans).collect();
    let missing: Vec<_> = known.iter().filter(|c| !spans.contains(**c)).collect();
    assert!(
        missing.is_empty(),
        "claims missing from docs/headers.md: {missing:?}"
    );
}

/// The fenced ```toml block of `text` that holds `marker`.
fn toml_block<'a>(text: &'a str, marker: &str) -> &'a str {
    text.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains(marker))
        .unwrap_or_else(|| panic!("no ```toml block with {marker}"))
}

#[test]
fn the_readme_minimal_configuration_passes_guichet_check() {
    let readme = read("README.md");
    let block = toml_block(&readme, "[[providers]]");
    let dir = tempfile::tempdir().expect("tempdir");
    let keygen = guichet()
        .args(["keygen", "--alg", "ES256"])
        .output()
        .expect("run guichet keygen");
    assert!(keygen.status.success());
    let key = dir.path().join("signing-key.pem");
    std::fs::write(&key, &keygen.stdout).expect("write key");
    // The README's key lives in /etc/guichet/; this one in a temporary directory.
    let config = block.replace("/etc/guichet/", &format!("{}/", dir.path().display()));
    let cfg = dir.path().join("guichet.toml");
    std::fs::write(&cfg, &config).expect("write config");
    let out = guichet()
        .args(["check", "--config"])
        .arg(&cfg)
        .env("GUICHET_FC_CLIENT_SECRET", SECRET)
        .output()
        .expect("run guichet check");
    assert!(
        out.status.success(),
        "{config}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("redirect_uri = \"https://"), "{stdout}");
}

// ------------------------------------------------------------------ links

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_` kept, spaces made
/// `-`, everything else dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text) {
        let Some(h) = line.strip_prefix('#') else {
            continue;
        };
        let a = anchor(h.trim_start_matches('#'));
        let n = seen.entry(a.clone()).or_default();
        out.insert(if *n == 0 {
            a.clone()
        } else {
            format!("{a}-{n}")
        });
        *n += 1;
    }
    out
}

/// Targets of the inline links `[text](target)` and images of `text`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        // Code spans hold examples, not links.
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![PathBuf::from("README.md")];
    for e in std::fs::read_dir(Path::new(ROOT).join("docs")).expect("docs/") {
        let p = e.expect("dir entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p.strip_prefix(ROOT).expect("under the root").to_path_buf());
        }
    }
    docs
}

#[test]
fn every_relative_link_points_to_something_that_exists() {
    let docs = documents();
    assert!(docs.len() > 10, "{docs:?}");
    let mut broken = Vec::new();
    for doc in &docs {
        let text = read(&doc.to_string_lossy());
        let dir = doc.parent().unwrap_or(Path::new(""));
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            let full = Path::new(ROOT).join(&path);
            if !full.exists() {
                broken.push(format!(
                    "{}: {target} (no {})",
                    doc.display(),
                    path.display()
                ));
                continue;
            }
            // Anchors are checked in the Markdown files this test covers.
            if let Some(a) = fragment {
                if path.extension().is_some_and(|x| x == "md") && full.is_file() {
                    let text = std::fs::read_to_string(&full).unwrap_or_default();
                    if !anchors(&text).contains(a) {
                        broken.push(format!("{}: {target} (no heading #{a})", doc.display()));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_reads_links_and_anchors_like_github() {
    assert_eq!(
        anchor(" TLS, HTTP/2 and websockets"),
        "tls-http2-and-websockets"
    );
    assert_eq!(anchor(" `[server.tls]`"), "servertls");
    assert_eq!(
        anchor(" Forms kept across a login (\"Votre formulaire va être envoyé\")"),
        "forms-kept-across-a-login-votre-formulaire-va-être-envoyé"
    );
    let a = anchors("# A\n```\n# not a heading\n```\n## A\n");
    assert_eq!(a, BTreeSet::from(["a".to_string(), "a-1".to_string()]));
    assert_eq!(
        links("see [x](docs/a.md#b), ![i](img/c.png) and `[y](not/a/link)`\n```\n[z](code)\n```"),
        ["docs/a.md#b", "img/c.png"]
    );
}
