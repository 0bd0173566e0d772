//! Every relative link in README.md and docs/ leads to a file that exists, and every
//! `#anchor` into a Markdown file to one of its headings: a dead link in the docs is a bug
//! a reader meets at the worst moment.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files the docs consist of.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The targets of `[text](target)` links outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans may show link syntax as an example.
        let outside: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = outside.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    found
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut dead = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("readable");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = match path {
                "" => doc.clone(),
                p => doc.parent().unwrap_or(Path::new(".")).join(p),
            };
            if !target.exists() {
                dead.push(format!("{}: {link} (no such file)", doc.display()));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|x| x == "md") {
                let body = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&body).contains(&fragment.to_lowercase()) {
                    dead.push(format!("{}: {link} (no such heading)", doc.display()));
                }
            }
        }
    }
    assert!(checked > 10, "only {checked} links found: is the parser broken?");
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn the_link_parser_finds_links_and_skips_code() {
    let text = "See [actions](actions.md#put-object) and `[not](a.md)`.\n```\n[nor](b.md)\n```\n[x](https://e.x)";
    assert_eq!(links(text), ["actions.md#put-object", "https://e.x"]);
    assert_eq!(
        anchor(" `putObject`: upload (file/stream)"),
        "putobject-upload-filestream"
    );
}
