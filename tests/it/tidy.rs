//! The house rules that `ARCHITECTURE.md` states, kept by reading `src/` (issue 13): SQL
//! types stay in `ledger`, state-directory names in `layout`, every module says what it
//! holds and is on the map, and production code never unwraps without saying why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `src/`, with its text, sorted.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(ROOT).join("src"), &mut out);
    out.sort();
    out
}

/// `src/a/b.rs` and `src/a/b/mod.rs` as `a::b`; `None` for the crate roots.
fn module(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(Path::new(ROOT).join("src")).unwrap();
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    let name = parts.join("::");
    (!matches!(name.as_str(), "lib" | "main")).then_some(name)
}

/// A file's production code: what stands before its first `#[cfg(test)]`, or nothing for
/// a module its parent declares test-only.
fn production<'a>(path: &Path, text: &'a str, all: &[(PathBuf, String)]) -> &'a str {
    let name = path.file_stem().unwrap().to_string_lossy();
    let test_only = all.iter().any(|(_, parent)| {
        parent.lines().collect::<Vec<_>>().windows(2).any(|w| {
            w[0].trim() == "#[cfg(test)]" && w[1].trim_end().ends_with(&format!("mod {name};"))
        })
    });
    if test_only {
        return "";
    }
    text.split("#[cfg(test)]").next().unwrap()
}

/// What breaks the rules, one line each (empty when the house is in order).
fn broken_rules(all: &[(PathBuf, String)], architecture: &str) -> Vec<String> {
    // Names of entries directly under the state directory or a tenant folder.
    const STATE_NAMES: [&str; 12] = [
        "staging",
        "archive",
        "quarantine",
        "tenants",
        "upload",
        "outbox",
        "receipts",
        "withdrawn",
        "temp",
        "mail",
        "ttp.key",
        "dropgate.sqlite",
    ];
    let mut broken = Vec::new();
    // Which top-level modules each top-level module uses.
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in all {
        let shown = path.strip_prefix(ROOT).unwrap().display().to_string();
        let in_ledger = shown.starts_with("src/ledger/");
        if !text.starts_with("//!") {
            broken.push(format!("{shown}: no //! module doc on its first line"));
        }
        let code = production(path, text, all);
        for (n, line) in code.lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            let line = line.split("//").next().unwrap();
            if !in_ledger && line.contains("rusqlite") {
                broken.push(format!("{at}: rusqlite outside src/ledger"));
            }
            if line.contains(".unwrap()") {
                broken.push(format!(
                    "{at}: unwrap() in production code (use expect with the reason it cannot fail, or handle it)"
                ));
            }
            if shown != "src/clock.rs"
                && (line.contains("Utc::now()") || line.contains("Local::now()"))
            {
                broken.push(format!("{at}: time read outside clock (use clock::now)"));
            }
            if shown != "src/layout.rs" {
                for name in STATE_NAMES {
                    if line.contains(&format!(".join(\"{name}")) {
                        broken.push(format!(
                            "{at}: state directory path {name:?} joined outside layout"
                        ));
                    }
                }
            }
        }
        if let Some(group) = module(path).and_then(|m| m.split("::").next().map(str::to_owned)) {
            for used in crate_paths(code) {
                if used != group {
                    imports.entry(group.clone()).or_default().insert(used);
                }
            }
        }
        if let Some(module) = module(path) {
            let mentioned = [
                format!("`{module}`"),
                format!("`{module}::"),
                format!("{module}`"),
                format!(" {module}::"),
            ];
            if !mentioned.iter().any(|m| architecture.contains(m.as_str())) {
                broken.push(format!(
                    "{shown}: module {module} is not in ARCHITECTURE.md"
                ));
            }
        }
    }
    broken.extend(circles(&imports));
    broken
}

/// The top-level modules `code` names as `crate::x`, alone or in a `crate::{x, y::z}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        used.insert(word(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(word(rest));
        }
    }
    used.retain(|m| !m.is_empty() && m != "self");
    used
}

/// One line per import circle between top-level modules (`a -> b -> a`).
fn circles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in imports.keys() {
        // Depth-first from `start`, remembering the path; a path back to `start` is a circle.
        let mut stack = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().expect("paths start with one module");
            for next in imports.get(last).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    // Name each circle once, from its smallest module.
                    let smallest = circle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| *m)
                        .map(|(i, _)| i);
                    circle.rotate_left(smallest.unwrap_or(0));
                    let first = circle[0].clone();
                    circle.push(first);
                    found.insert(circle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    found
        .into_iter()
        .map(|c| format!("import circle: {c}"))
        .collect()
}

#[test]
fn the_house_rules_hold() {
    let architecture = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let broken = broken_rules(&sources(), &architecture);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Each rule catches what it is for: a file breaking all of them at once is named for each.
#[test]
fn each_house_rule_catches_a_break() {
    let all = sources();
    let architecture = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let bad = Path::new(ROOT).join("src/ingest/unmapped.rs");
    // `ops` uses `ingest`, so `ingest` using `ops` closes a circle.
    let text = "fn f(state: &std::path::Path) {\n    let _ = state.join(\"staging\");\n    let _: rusqlite::Result<()> = Ok(());\n    Some(1).unwrap();\n    let _ = chrono::Utc::now();\n    let _ = crate::ops::status::report;\n}\n".to_owned();
    let mut with_bad = all.clone();
    with_bad.push((bad, text));
    let broken = broken_rules(&with_bad, &architecture);
    let about_bad: Vec<&String> = broken
        .iter()
        .filter(|b| b.contains("unmapped.rs"))
        .collect();
    for rule in [
        "no //! module doc",
        "\"staging\" joined outside layout",
        "rusqlite outside src/ledger",
        "unwrap() in production code",
        "not in ARCHITECTURE.md",
        "time read outside clock",
    ] {
        assert!(
            about_bad.iter().any(|b| b.contains(rule)),
            "{rule} in {about_bad:?}"
        );
    }
    assert!(
        broken
            .iter()
            .any(|b| b == "import circle: ingest -> ops -> ingest"),
        "{broken:?}"
    );
    assert!(
        !broken_rules(&all, &architecture)
            .iter()
            .any(|b| b.starts_with("import circle")),
        "no circle without the planted file"
    );
}
