//! What the Helm chart and the image are built from agree with the code: the chart's default
//! configuration is `config.example.toml`'s and passes guichet's validator (with each mode's
//! values too), and the Docker build context holds everything the Dockerfile copies and the build
//! reads, with an entrypoint that is the command the chart runs. The chart itself is checked with
//! real Helm by `tests/chart/check_chart.py` (`make chart-test`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## Deployment: `Dockerfile`, `helm/guichet/`
//! The image (`Dockerfile`): the release binary built on Debian 12, run by
//! `gcr.io/distroless/cc-debian12:nonroot` (glibc, libgcc, OpenSSL 3; no shell) as user 65532
//! with `guichet run --config /etc/guichet/guichet.toml`; the build context is an allowlist
//! (`.dockerignore`). The chart (`helm/guichet`): `values.yaml`
//! documents every value; `config:` is guichet's configuration tree, rendered by
//! `guichet.configToml` in `_helpers.tpl` with `toToml`
//! (after turning Helm's whole floats back into integers), so a new guichet key needs no chart
//! change; `guichet.validate` holds the refusals (`fail`), mirrored in `values.schema.json` where
//! `helm lint` sees them (lint runs `fail` in a mode where it only logs); `guichet.container`
//! is the same container in gateway and sidecar mode; the Secret is mounted in
//! `/etc/guichet/secrets/` and the config points at its files.
//!
//! **Invariants**, each with its test (`make chart-test` runs
//! `tests/chart/check_chart.py` with real Helm; `tests/deploy.rs`
//! runs in `cargo test`):
//! - The chart's default config is `config.example.toml`'s, secret references and
//!   `metrics.listen` aside (`deploy::chart_config_agrees_with_config_example`): a key added to
//!   one must be added to the other. It and each `ci/*-values.yaml` pass guichet's validator
//!   (`deploy::chart_default_config_passes_the_validator`, `chart_mode_configs_pass_the_validator`),
//!   and the rendered ConfigMap is exactly the values' tree and passes `guichet check` with the
//!   rendered Secret (check_chart "render: ...").
//! - More than one replica (or an HPA) needs the Redis store and a configured signing key: refused
//!   by the schema (lint and install) and by the template (check_chart "lint refuses ...",
//!   "install refuses ...").
//! - Every `file:/etc/guichet/secrets/NAME` the config reads is a key of the chart's Secret
//!   (check_chart "install refuses a config file missing from the chart's Secret").
//! - The pod runs non-root, read-only root filesystem, no capabilities, no privilege escalation,
//!   RuntimeDefault seccomp, no service account token; probes `/healthz` and `/readyz` on the
//!   port of `config.server.listen`; Service, ServiceMonitor, HPA, PDB and NetworkPolicies select
//!   its labels and name its ports; every manifest passes the Kubernetes 1.31 schemas, strict
//!   (check_chart "render: ..."). A config change changes `checksum/config`
//!   (check_chart "checksum/config ...").
//! - The Docker context holds every file the build reads (COPY sources, bench targets,
//!   `include_str!`/`include_bytes!` targets: `deploy::docker_build_context_is_complete`); the
//!   image's command is the chart's (`deploy::image_runs_guichet_as_the_chart_expects`); the
//!   binary links only libraries the runtime image has
//!   (`deploy::binary_needs_only_what_the_runtime_image_has`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SECRETS_DIR: &str = "/etc/guichet/secrets/";

fn root() -> PathBuf {
    PathBuf::from(ROOT)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Helm's merge of a values file over the chart's values: maps merge, null removes, the rest
/// replaces (lists included).
fn merge(base: &mut serde_yaml::Value, over: &serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The `config` tree of the chart's values (with a values file of `ci/` merged in) as TOML.
fn chart_config(mode_file: Option<&str>) -> toml::Value {
    let mut values = yaml("helm/guichet/values.yaml");
    if let Some(file) = mode_file {
        merge(&mut values, &yaml(file));
    }
    toml::Value::try_from(&values["config"]).expect("the chart's config converts to TOML")
}

// ------------------------------------------------------------------ config.example.toml vs chart

/// Leaves where the chart's default rightly differs from config.example.toml, with the value
/// the chart must have.
const CHART_OWN_VALUES: &[(&str, &str)] = &[
    // Prometheus scrapes the pod from another pod: not loopback.
    ("metrics.listen", "0.0.0.0:9090"),
];

fn is_secret_reference(v: &toml::Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with("env:") || s.starts_with("file:"))
}

fn compare(path: &str, example: &toml::Value, chart: &toml::Value, out: &mut Vec<String>) {
    use toml::Value::{Array, Table};
    let key = |k: &str| match path {
        "" => k.to_string(),
        _ => format!("{path}.{k}"),
    };
    match (example, chart) {
        (Table(e), Table(c)) => {
            for (k, ev) in e {
                match c.get(k) {
                    Some(cv) => compare(&key(k), ev, cv, out),
                    None => out.push(format!(
                        "{}: in config.example.toml, not in the chart",
                        key(k)
                    )),
                }
            }
            for k in c.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!(
                    "{}: in the chart, not in config.example.toml",
                    key(k)
                ));
            }
        }
        (Array(e), Array(c)) if e.len() == c.len() => {
            for (i, (ev, cv)) in e.iter().zip(c).enumerate() {
                compare(&format!("{path}[{i}]"), ev, cv, out);
            }
        }
        (e, c) => {
            if let Some((_, own)) = CHART_OWN_VALUES.iter().find(|(p, _)| *p == path) {
                if c.as_str() != Some(own) {
                    out.push(format!("{path}: the chart must have {own:?}, not {c}"));
                }
            } else if !(e == c || is_secret_reference(e) && is_secret_reference(c)) {
                out.push(format!(
                    "{path}: config.example.toml has {e}, the chart {c}"
                ));
            }
        }
    }
}

#[test]
fn chart_config_agrees_with_config_example() {
    let example: toml::Value = toml::from_str(&read("config.example.toml")).unwrap();
    let mut differences = Vec::new();
    compare("", &example, &chart_config(None), &mut differences);
    assert!(
        differences.is_empty(),
        "helm/guichet/values.yaml `config:` must be config.example.toml's keys and values \
         (secret references and {CHART_OWN_VALUES:?} aside); update one or the other:\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn the_agreement_check_sees_a_difference() {
    let example: toml::Value =
        toml::from_str("[session]\nstore = \"memory\"\nidle_timeout = \"30m\"\n").unwrap();
    let chart: toml::Value =
        toml::from_str("[session]\nstore = \"redis\"\n[metrics]\nlisten = \"127.0.0.1:9090\"\n")
            .unwrap();
    let mut out = Vec::new();
    compare("", &example, &chart, &mut out);
    assert_eq!(
        out,
        [
            "session.idle_timeout: in config.example.toml, not in the chart",
            "session.store: config.example.toml has \"memory\", the chart \"redis\"",
            "metrics: in the chart, not in config.example.toml",
        ]
    );
}

// ------------------------------------------------------------- the chart's config is valid

/// Contents for the secrets a config reads, by where it reads them: what an operator puts in the
/// Secret. Keys are made by `guichet keygen`.
fn secret_fixtures(config: &toml::Value) -> BTreeMap<String, String> {
    let keygen = |alg: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(["keygen", "--alg", alg])
            .output()
            .expect("guichet keygen");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let mut refs = BTreeMap::new();
    let str_of = |v: &toml::Value, k: &str| v.get(k).and_then(|s| s.as_str()).map(String::from);
    for p in config["providers"].as_array().into_iter().flatten() {
        if let Some(r) = str_of(p, "client_secret") {
            refs.insert(r, "a-client-secret-of-enough-length".to_string());
        }
        for k in p
            .get("decryption_keys")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            refs.insert(
                str_of(k, "key").unwrap(),
                keygen(&str_of(k, "alg").unwrap()),
            );
        }
    }
    let headers = config.get("headers");
    for r in headers
        .and_then(|h| h.get("signing_keys"))
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        refs.insert(r.as_str().unwrap().to_string(), keygen("ES256"));
    }
    let session = config.get("session");
    let sentinels: Vec<String> = session
        .and_then(|s| s.get("redis_sentinels"))
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if let Some(r) = session.and_then(|s| str_of(s, "redis_url")) {
        // With sentinels, the URL's host is the master name.
        let host = if sentinels.is_empty() {
            "redis.demarches.svc:6380"
        } else {
            "mymaster"
        };
        refs.insert(r, format!("rediss://:a-password@{host}/0"));
    }
    for r in sentinels
        .iter()
        .filter(|r| is_secret_reference(&toml::Value::from(r.as_str())))
    {
        refs.insert(
            r.clone(),
            "rediss://:a-password@redis.demarches.svc:26379".into(),
        );
    }
    for r in session
        .and_then(|s| s.get("seal_keys"))
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        refs.insert(
            r.as_str().unwrap().to_string(),
            guichet::session::seal::generate_key(),
        );
    }
    // A file of the Secret read as a path (not a reference): what `guichet check` looks for.
    if let Some(ca) = session.and_then(|s| str_of(s, "redis_ca_file")) {
        refs.insert(
            ca,
            "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n".into(),
        );
    }
    refs
}

/// Validates a chart config with guichet's own validator, its secret references pointed at
/// fixture files (an `env:` reference becomes a file: same loader, no process-wide variable).
fn validate_chart_config(mode_file: Option<&str>) {
    let config = chart_config(mode_file);
    let dir = tempfile::tempdir().unwrap();
    let mut text = toml::to_string(&config).unwrap();
    for (i, (reference, content)) in secret_fixtures(&config).iter().enumerate() {
        let file = dir.path().join(format!("secret-{i}"));
        std::fs::write(&file, content).unwrap();
        let quoted = format!("\"{reference}\"");
        assert!(text.contains(&quoted), "{reference} not in the config");
        let replacement = if is_secret_reference(&toml::Value::from(reference.as_str())) {
            format!("\"file:{}\"", file.display())
        } else {
            format!("\"{}\"", file.display())
        };
        text = text.replace(&quoted, &replacement);
    }
    assert!(
        !text.contains(SECRETS_DIR),
        "a secret file the fixtures do not know:\n{text}"
    );
    let path = Path::new(mode_file.unwrap_or("helm/guichet/values.yaml"));
    if let Err(e) = guichet::config::Config::from_toml(&text, path) {
        panic!("the chart's config does not pass guichet's validator: {e}\n{text}");
    }
}

#[test]
fn chart_default_config_passes_the_validator() {
    validate_chart_config(None);
}

#[test]
fn chart_mode_configs_pass_the_validator() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("helm/guichet/ci"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-values.yaml"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "gateway-values.yaml",
            "sentinel-values.yaml",
            "sidecar-values.yaml"
        ]
    );
    for f in files {
        validate_chart_config(Some(&format!("helm/guichet/ci/{f}")));
    }
}

// ------------------------------------------------------------------------ Docker build context

/// Dockerfile instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (i, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (i.to_ascii_uppercase(), rest.trim().to_string())
        })
        .collect()
}

/// One .dockerignore pattern against one path: `*` and `?` within a segment, `**` across
/// segments (Go's filepath.Match plus `**`, as Docker reads them).
fn glob(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            glob(&pattern[1..], path) || (!path.is_empty() && glob(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => {
            segment(p.as_bytes(), s.as_bytes()) && glob(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

fn segment(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => segment(&p[1..], s) || (!s.is_empty() && segment(p, &s[1..])),
        (Some(b'?'), Some(_)) => segment(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => segment(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Docker's rule: the last pattern matching the path or one of its parent directories decides;
/// `!` patterns include.
fn docker_excludes(ignore: &str, path: &str) -> bool {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let mut excluded = false;
    for line in ignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (include, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if (1..=parts.len()).any(|n| glob(&pattern, &parts[..n])) {
            excluded = !include;
        }
    }
    excluded
}

#[test]
fn dockerignore_reads_like_docker() {
    let ignore = "*\n!src\n!Cargo.toml\nsrc/**/*.bak\n";
    assert!(docker_excludes(ignore, "target/debug/guichet"));
    assert!(docker_excludes(ignore, ".git"));
    assert!(!docker_excludes(ignore, "src/config/mod.rs"));
    assert!(docker_excludes(ignore, "src/config/old.bak"));
    assert!(!docker_excludes(ignore, "Cargo.toml"));
    assert!(docker_excludes(ignore, "Cargo.lock"));
    assert!(!docker_excludes("target\n", "src/main.rs"));
}

#[test]
fn docker_build_context_is_complete() {
    let ignore = read(".dockerignore");
    let sent = |path: &str| root().join(path).exists() && !docker_excludes(&ignore, path);
    let mut copied = Vec::new();
    for (instr, args) in dockerfile() {
        if instr != "COPY" || args.contains("--from=") {
            continue;
        }
        let words: Vec<&str> = args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for src in &words[..words.len() - 1] {
            assert!(
                sent(src),
                "the Dockerfile copies {src}, which the build context lacks"
            );
            copied.push(src.trim_end_matches('/').to_string());
        }
    }
    let in_build = |path: &str| {
        copied
            .iter()
            .any(|c| path == c || path.starts_with(&format!("{c}/")))
    };
    // What cargo reads: the manifest, the lock file, every declared target.
    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".into(),
        "src/lib.rs".into(),
        "src/main.rs".into(),
    ];
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    for bench in manifest["bench"].as_array().into_iter().flatten() {
        needed.push(match bench.get("path").and_then(|p| p.as_str()) {
            Some(path) => path.to_string(),
            None => format!("benches/{}.rs", bench["name"].as_str().unwrap()),
        });
    }
    // ... every path dependency patched in ([patch.crates-io]: the vendored pingora-proxy) ...
    for table in manifest["patch"]
        .as_table()
        .into_iter()
        .flat_map(|t| t.values())
    {
        for dep in table.as_table().into_iter().flat_map(|t| t.values()) {
            if let Some(path) = dep.get("path").and_then(|p| p.as_str()) {
                needed.push(format!("{path}/Cargo.toml"));
                needed.push(format!("{path}/src/lib.rs"));
            }
        }
    }
    // ... and every file the sources include at compile time.
    needed.extend(included_files(&root().join("src")));
    for path in needed {
        assert!(
            in_build(&path) && sent(&path),
            "the build needs {path}: COPY it in the Dockerfile and allow it in .dockerignore"
        );
    }
}

/// Paths (relative to the repository) of every `include_str!`/`include_bytes!` under `dir`.
fn included_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(included_files(&path));
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for piece in text.split(macro_name).skip(1) {
                let target = piece.split('"').next().unwrap();
                let full = path.parent().unwrap().join(target);
                let full = full.canonicalize().unwrap_or(full);
                let rel = full
                    .strip_prefix(root().canonicalize().unwrap())
                    .unwrap_or(&full);
                out.push(rel.display().to_string());
            }
        }
    }
    out
}

#[test]
fn image_runs_guichet_as_the_chart_expects() {
    let instructions = dockerfile();
    let last_stage = instructions.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let runtime = &instructions[last_stage..];
    let arg = |name: &str| {
        runtime
            .iter()
            .rev()
            .find(|(i, _)| i == name)
            .map(|(_, a)| serde_json::from_str::<Vec<String>>(a).expect("exec form"))
            .unwrap_or_default()
    };
    let mut argv = arg("ENTRYPOINT");
    argv.extend(arg("CMD"));
    assert_eq!(
        argv,
        [
            "/usr/local/bin/guichet",
            "run",
            "--config",
            "/etc/guichet/guichet.toml"
        ]
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, u)| u.clone())
        .expect("the runtime stage sets USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER");
    assert_ne!(uid, 0, "the image must not run as root");
    // The chart mounts its ConfigMap where the image's command reads it.
    assert!(read("helm/guichet/templates/_helpers.tpl")
        .contains("{{- define \"guichet.configPath\" -}}/etc/guichet/guichet.toml{{- end }}"));
}

/// The runtime image (distroless cc-debian12) has glibc, libgcc and OpenSSL 3, and nothing
/// else: a dependency that links another shared library would build but not start there.
#[test]
fn binary_needs_only_what_the_runtime_image_has() {
    let (build, runtime) = {
        let froms: Vec<String> = dockerfile()
            .into_iter()
            .filter(|(i, _)| i == "FROM")
            .map(|(_, a)| a)
            .collect();
        (froms[0].clone(), froms[froms.len() - 1].clone())
    };
    assert!(
        build.contains("bookworm") && runtime.contains("debian12"),
        "{build} / {runtime}"
    );
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_guichet"))
        .output()
        .expect("ldd (libc-bin)");
    let allowed = [
        "linux-vdso.so",
        "libssl.so.3",
        "libcrypto.so.3",
        "libgcc_s.so.1",
        "libm.so.6",
        "libc.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "ld-linux",
    ];
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let lib = line.split_whitespace().next().unwrap();
        assert!(
            allowed.iter().any(|a| lib.contains(a)),
            "guichet links {lib}, which gcr.io/distroless/cc-debian12 does not have:\n{text}"
        );
    }
    assert!(text.contains("libssl.so.3"), "{text}");
}
