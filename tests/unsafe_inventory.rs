//! The list of files with `unsafe` in ARCHITECTURE.md is the whole list: a file that gains
//! `unsafe` without being listed (or a listed file that no longer has any) fails here, and so
//! does an `unsafe fn` whose doc comment has no `# Safety` section saying what its caller
//! must guarantee. A reviewer can then trust the table to say where to look.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The source trees of the workspace's crates.
const SOURCE_DIRS: &[&str] =
    &["runtime/src", "macros/src", "net/src", "http/src", "app/src", "src", "test-support/src"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without its `//` comment (a `//` inside a string literal is rare
/// enough in this code base not to matter here).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// Whether a line of code uses `unsafe` as a keyword: a block, a function or an impl.
fn uses_unsafe(code: &str) -> bool {
    let mut rest = code;
    while let Some(i) = rest.find("unsafe") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + "unsafe".len()..].trim_start();
        let standalone = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if standalone && (after.starts_with('{') || after.starts_with("fn ") || after.starts_with("impl")) {
            return true;
        }
        rest = &rest[i + "unsafe".len()..];
    }
    false
}

#[test]
fn every_file_with_unsafe_is_listed_and_every_unsafe_fn_states_its_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let section_start =
        architecture.find("- **Unsafe code**").expect("ARCHITECTURE.md has an `Unsafe code` entry");
    let section = &architecture[section_start..];
    let section = &section[..section[1..].find("\n- **").map_or(section.len(), |i| i + 1)];

    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} source files under {SOURCE_DIRS:?}", files.len());

    let mut with_unsafe = BTreeSet::new();
    let mut missing_contract = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = code_of(line);
            if !uses_unsafe(code) {
                continue;
            }
            with_unsafe.insert(relative.clone());
            if code.contains("unsafe fn") {
                // The doc comment and attributes directly above the signature.
                let documented = lines[..n]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        let t = l.trim_start();
                        t.starts_with("///") || t.starts_with("#[")
                    })
                    .any(|l| l.trim_start() == "/// # Safety");
                if !documented {
                    missing_contract.push(format!("{relative}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }

    let unlisted: Vec<_> = with_unsafe.iter().filter(|f| !section.contains(&format!("`{f}`"))).collect();
    assert!(unlisted.is_empty(), "files with `unsafe` missing from ARCHITECTURE.md's list: {unlisted:#?}");
    let listed: Vec<&str> = section
        .split('`')
        .filter(|s| s.ends_with(".rs") && s.contains("/src/"))
        .filter(|s| !with_unsafe.contains(*s))
        .collect();
    assert!(listed.is_empty(), "ARCHITECTURE.md lists files that have no `unsafe`: {listed:#?}");
    assert!(missing_contract.is_empty(), "`unsafe fn` without a `# Safety` section: {missing_contract:#?}");
}
