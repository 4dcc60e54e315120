//! A check of the whole crate's import graph: no file in `src/` imports a
//! file that imports it back, directly or through others.
//!
//! An edge is a path in a file that names another file's module: every
//! `use` path and every `crate::`/`super::`/`self::` path (outside comments,
//! strings and `#[cfg(test)]` modules). A parent's `mod child;` is a
//! declaration, not an edge; in `run/`, `router/` and `local/` a parent's
//! bare `child::item` path counts too, so a parent and a child there never
//! import each other. Paths inside an inline `mod name { ... }` are read as
//! if at the file's level (such modules here use `crate::` paths).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, by the module path it defines.
fn files(dir: &Path, root: &Path, out: &mut BTreeMap<Module, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap_or(&p).with_extension("");
            let mut m: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if m.last().is_some_and(|l| l == "mod" || l == "main") {
                m.pop();
            }
            out.insert(m, p);
        }
    }
}

/// The source without comments, string contents and `#[cfg(test)] mod`
/// blocks.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    // Drop test modules: `#[cfg(test)]` then `mod name {` up to its brace.
    let mut kept = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let t = after.trim_start();
        let inline =
            t.starts_with("mod ") && t.find(['{', ';']).is_some_and(|k| &t[k..k + 1] == "{");
        if !inline {
            rest = after;
            continue;
        }
        let open = after.find('{').unwrap_or(0);
        let mut depth = 0;
        let mut end = after.len();
        for (k, c) in after[open..].char_indices() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            if depth == 0 {
                end = open + k + 1;
                break;
            }
        }
        rest = &after[end..];
    }
    kept.push_str(rest);
    kept
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, out: &mut Vec<String>) {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        out.push(path.to_string());
        return;
    };
    let (head, body) = (
        &tree[..open],
        &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())],
    );
    let mut depth = 0;
    let mut part = String::new();
    for c in body.chars().chain([',']) {
        match c {
            ',' if depth == 0 => {
                if !part.trim().is_empty() {
                    expand(&format!("{head}{}", part.trim()), out);
                }
                part.clear();
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        part.push(c);
    }
}

/// The paths one file names: its `use` trees and its qualified paths.
fn paths(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            expand(&tail[..end], &mut out);
        }
        rest = &tail[end.min(tail.len())..];
    }
    // Every `word::word...` sequence.
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_word(chars[i]) && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len()
                && (is_word(chars[i]) || (chars[i] == ':' && chars.get(i + 1) == Some(&':')))
            {
                i += if chars[i] == ':' { 2 } else { 1 };
            }
            let p: String = chars[start..i].iter().collect();
            if p.contains("::") {
                out.push(p.trim_end_matches(':').to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Which file module `path`, written in module `here`, names.
fn resolve(
    path: &str,
    here: &Module,
    strict: bool,
    files: &BTreeMap<Module, PathBuf>,
) -> Option<Module> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut cur: Module = match segs.first() {
        Some(&"crate") => Vec::new(),
        Some(&"super") | Some(&"self") => here.clone(),
        Some(first)
            if strict && files.contains_key(&[here.clone(), vec![first.to_string()]].concat()) =>
        {
            here.clone()
        }
        _ => return None,
    };
    let mut rest = &segs[usize::from(segs[0] == "crate")..];
    while let Some(&s) = rest.first() {
        match s {
            "super" => {
                cur.pop();
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    cur.extend(rest.iter().map(|s| s.to_string()));
    while !files.contains_key(&cur) {
        cur.pop()?;
    }
    Some(cur)
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    files(&root, &root, &mut all);
    if all.is_empty() {
        // A cross build run elsewhere (Wine) may not see the source tree.
        println!("SKIP: no source files under {}", root.display());
        return;
    }
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, p) in &all {
        let test_file = m
            .last()
            .is_some_and(|l| l == "tests" || l.ends_with("_tests"));
        if test_file {
            continue;
        }
        let src = std::fs::read_to_string(p).unwrap_or_default();
        let strict = matches!(
            m.first().map(String::as_str),
            Some("run" | "router" | "local")
        );
        let to = edges.entry(m.clone()).or_default();
        for path in paths(&strip(&src)) {
            if let Some(t) = resolve(&path, m, strict, &all) {
                if &t != m {
                    to.insert(t);
                }
            }
        }
    }
    // A cycle is an edge a -> b with a path b -> ... -> a.
    let reaches = |from: &Module, to: &Module| -> Option<Vec<Module>> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![vec![from.clone()]];
        while let Some(trail) = stack.pop() {
            let last = trail.last()?.clone();
            if &last == to {
                return Some(trail);
            }
            if !seen.insert(last.clone()) {
                continue;
            }
            for n in edges.get(&last).into_iter().flatten() {
                let mut t = trail.clone();
                t.push(n.clone());
                stack.push(t);
            }
        }
        None
    };
    let name = |m: &Module| {
        all[m]
            .strip_prefix(&root)
            .unwrap_or(&all[m])
            .display()
            .to_string()
    };
    let mut cycles = Vec::new();
    for (a, tos) in &edges {
        for b in tos {
            if let Some(back) = reaches(b, a) {
                let mut trail = vec![name(a)];
                trail.extend(back.iter().map(name));
                cycles.push(trail.join(" -> "));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    // The check sees edges at all: run/dial.rs names run/shared.rs.
    let shared = vec!["run".to_string(), "shared".to_string()];
    assert!(edges[&vec!["run".to_string(), "dial".to_string()]].contains(&shared));
}
