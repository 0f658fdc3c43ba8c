//! The modules of `src/` form layers: no import cycle between top-level modules, and each
//! imports only from those listed before it in ARCHITECTURE.md's "Layers". Read from the source
//! as text: every `crate::NAME` outside comments and unit-test code is an edge from the file's
//! top-level module to `NAME`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level module names a line of code refers to with `crate::`.
fn references(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e};`: the names at the group's first level.
            let mut depth = 0;
            let mut token = String::new();
            let mut first = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !token.is_empty() {
                            out.push(std::mem::take(&mut token));
                        }
                        first = true;
                    }
                    c if depth == 0 && first && (c.is_alphanumeric() || c == '_') => token.push(c),
                    _ if depth == 0 && first && !token.is_empty() => {
                        out.push(std::mem::take(&mut token));
                        first = false;
                    }
                    _ => {}
                }
            }
            if !token.is_empty() {
                out.push(token);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn collect(dir: &Path, src: &Path, graph: &mut Graph) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            collect(&path, src, graph);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
            continue;
        }
        let rel = path.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read file");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let edges = graph.entry(top.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for name in references(line) {
                if name != top {
                    edges.insert(name);
                }
            }
        }
    }
}

/// A cycle through `node`, if any, as the list of modules walked.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut c = path[i..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(c) = visit(next, graph, done, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    collect(&src, &src, &mut graph);
    graph
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = module_graph();
    assert!(graph.len() > 20, "modules found: {:?}", graph.keys());
    assert!(graph["gateway"].contains("session"), "edges are read");
    if let Some(c) = cycle(&graph) {
        panic!("import cycle between modules: {}", c.join(" -> "));
    }
}

#[test]
fn config_and_the_shared_words_import_nothing_above_them() {
    let graph = module_graph();
    assert!(
        graph["vocab"].is_empty(),
        "vocab imports {:?}",
        graph["vocab"]
    );
    let allowed: BTreeSet<String> = ["vocab", "authority", "keys", "crypto", "tls"]
        .map(String::from)
        .into();
    let extra: Vec<_> = graph["config"].difference(&allowed).collect();
    assert!(extra.is_empty(), "config imports {extra:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = Graph::new();
    graph.insert("a".into(), ["b".to_string()].into());
    graph.insert("b".into(), ["a".to_string()].into());
    assert_eq!(cycle(&graph).map(|c| c.len()), Some(3));
    assert_eq!(
        references("use crate::{x::Y, z, w::{p, q}};"),
        ["x", "z", "w"]
    );
}

/// The order of ARCHITECTURE.md's "Layers", from the ground up.
const LAYERS: &[&str] = &[
    "vocab",
    "authority",
    "crypto",
    "jose",
    "tls",
    "metrics",
    "keys",
    "forms",
    "request_id",
    "config",
    "identity",
    "policy",
    "throttle",
    "assertion",
    "oidc",
    "session",
    "web",
    "hygiene",
    "upgraded",
    "audit",
    "pages",
    "upstream",
    "limits",
    "edge",
    "gateway",
    "proxy",
    "listeners",
    "server",
    "demo",
];

#[test]
fn modules_import_only_from_those_listed_before_them() {
    let graph = module_graph();
    for (module, imports) in &graph {
        let Some(floor) = LAYERS.iter().position(|m| m == module) else {
            panic!("module {module} is not in LAYERS (and ARCHITECTURE.md's Layers): place it");
        };
        for i in imports.iter().filter(|i| graph.contains_key(*i)) {
            let below = LAYERS
                .iter()
                .position(|m| m == i)
                .is_some_and(|f| f < floor);
            assert!(below, "{module} imports {i}, listed after it in the layers");
        }
    }
}
