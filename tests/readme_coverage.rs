//! The README's coverage table is built from the operation list
//! (`tests/data/openai_operations.tsv`) and the shipped `routes.d/`, so it
//! cannot drift from the routes. And every command of the README's first
//! screen is run by CI, so that cannot drift either.
//!
//! The table lives between the lines `<!-- coverage:start -->` and
//! `<!-- coverage:end -->` of README.md. `RELAY_BLESS=1` rewrites that
//! section instead of failing; nothing outside the markers is ever touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use actix_web::http::Method;
use relay::env::Env;
use relay::table::Table;

const START: &str = "<!-- coverage:start -->";
const END: &str = "<!-- coverage:end -->";
const BASE_URL: &str = "http://upstream.test/v1";

/// One group of operations and what serves it.
struct Group {
    name: String,
    operations: usize,
    served: usize,
    files: BTreeSet<String>,
}

fn shipped_table(root: &Path) -> Table {
    let env = Env::from_pairs([("OPENAI_BASE_URL", BASE_URL)]);
    match relay::compile::load_table(&root.join("routes.d"), &env) {
        Ok(table) => table,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            panic!("routes.d does not compile:\n{}", list.join("\n"))
        }
    }
}

/// The route file serving `method path` (path relative to the API base,
/// maybe with a query), when the operation reaches its own upstream URL.
fn served_by(table: &Table, method: &str, path: &str) -> Option<String> {
    let (pattern, query) = match path.split_once('?') {
        Some((pattern, query)) => (pattern, Some(query)),
        None => (path, None),
    };
    let sample: Vec<String> = pattern
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!("p_{name}"),
            None => segment.to_owned(),
        })
        .collect();
    let sample = sample.join("/");
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let inbound = format!("/v1{sample}");
    let resolved = table.resolve("default", &method, &inbound, query).ok()?;
    let expected = match query {
        Some(query) => format!("{BASE_URL}{sample}?{query}"),
        None => format!("{BASE_URL}{sample}"),
    };
    if resolved.url != expected {
        return None;
    }
    let file = &table.routes[resolved.route].origin.file;
    Some(file.file_name().map_or_else(|| file.display().to_string(), |name| name.to_string_lossy().into_owned()))
}

/// The groups of the operation list, in order of first appearance.
fn groups(root: &Path, table: &Table) -> Vec<Group> {
    let file = root.join("tests/data/openai_operations.tsv");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut groups: Vec<Group> = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [method, path, _, _, group, ..] = fields[..] else {
            panic!("{}:{}: too few columns", file.display(), index + 1);
        };
        let at = match groups.iter().position(|g| g.name == group) {
            Some(at) => at,
            None => {
                groups.push(Group { name: group.to_owned(), operations: 0, served: 0, files: BTreeSet::new() });
                groups.len() - 1
            }
        };
        let entry = &mut groups[at];
        entry.operations += 1;
        if let Some(route_file) = served_by(table, method, path) {
            entry.served += 1;
            entry.files.insert(route_file);
        }
    }
    groups
}

/// The Markdown that belongs between the markers.
fn coverage_section(groups: &[Group]) -> String {
    let mut out = String::from("\n| group | operations | served | route files |\n|---|---:|---:|---|\n");
    for group in groups {
        let files: Vec<String> = group.files.iter().map(|f| format!("`{f}`")).collect();
        let files = if files.is_empty() { "none".to_owned() } else { files.join(", ") };
        out.push_str(&format!("| `{}` | {} | {} | {files} |\n", group.name, group.operations, group.served));
    }
    let total: usize = groups.iter().map(|g| g.operations).sum();
    let served: usize = groups.iter().map(|g| g.served).sum();
    out.push_str(&format!("| **all** | {total} | {served} | |\n\n"));
    out
}

/// The byte range between the two marker lines, or why there is none.
fn between_markers(text: &str) -> Result<Range<usize>, String> {
    let (mut start, mut end, mut offset) = (None, None, 0);
    for line in text.split_inclusive('\n') {
        let bare = line.trim();
        if bare == START || bare == END {
            let slot = if bare == START { &mut start } else { &mut end };
            if slot.is_some() {
                return Err(format!("the line `{bare}` appears twice"));
            }
            *slot = Some(if bare == START { offset + line.len() } else { offset });
        }
        offset += line.len();
    }
    match (start, end) {
        (Some(start), Some(end)) if start <= end => Ok(start..end),
        (Some(_), Some(_)) => Err(format!("`{END}` comes before `{START}`")),
        _ => Err(format!("the lines `{START}` and `{END}` are missing")),
    }
}

/// Replaces the file in one step, so no reader sees it half written.
fn replace_file(path: &Path, text: &str) {
    let real = std::fs::canonicalize(path).unwrap();
    let temp = real.with_file_name(format!(
        ".{}.coverage-{}",
        real.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&temp, text).unwrap();
    std::fs::set_permissions(&temp, std::fs::metadata(&real).unwrap().permissions()).unwrap();
    std::fs::rename(&temp, &real).unwrap();
}

#[test]
fn readme_coverage_table_matches_the_routes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = shipped_table(root);
    let mut expected = coverage_section(&groups(root, &table));

    let readme = root.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| {
        panic!("cannot read {}: {e}\nadd a README.md with the lines `{START}` and `{END}`", readme.display())
    });
    let range = between_markers(&text).unwrap_or_else(|problem| {
        panic!(
            "{}: {problem}.\nAdd the two lines `{START}` and `{END}` where the coverage table goes; \
             `RELAY_BLESS=1 cargo test --test readme_coverage` then fills in the table.",
            readme.display()
        )
    });
    if text[..range.start].ends_with("\r\n") {
        expected = expected.replace('\n', "\r\n");
    }
    let current = &text[range.clone()];
    if current == expected {
        return;
    }
    if std::env::var_os("RELAY_BLESS").is_some() {
        let updated = format!("{}{expected}{}", &text[..range.start], &text[range.end..]);
        replace_file(&readme, &updated);
        return;
    }
    panic!(
        "the coverage table in {} is out of date; `RELAY_BLESS=1 cargo test --test readme_coverage` rewrites it \
         (only the text between the markers changes).\n--- expected between the markers ---\n{expected}\
         --- found ---\n{current}",
        readme.display()
    );
}

/// The README's first screen, between these lines.
const FIRST_SCREEN: [&str; 2] = ["<!-- first-screen:start -->", "<!-- first-screen:end -->"];

/// The scripts CI runs that may run a first-screen command.
const CI_SCRIPTS: [&str; 2] = [".ci/run", ".ci/first_screen.sh"];

/// The commands of the `sh` blocks between the first-screen markers, with
/// their comments removed.
fn first_screen_commands(readme: &str) -> Vec<String> {
    let start = readme.find(FIRST_SCREEN[0]).unwrap_or_else(|| panic!("README.md lacks `{}`", FIRST_SCREEN[0]));
    let end = readme.find(FIRST_SCREEN[1]).unwrap_or_else(|| panic!("README.md lacks `{}`", FIRST_SCREEN[1]));
    let mut commands = Vec::new();
    let mut in_shell = false;
    for line in readme[start..end].lines() {
        match line.trim() {
            "```sh" | "```bash" | "```shell" => in_shell = true,
            "```" => in_shell = false,
            code if in_shell => {
                let command = code.split(" #").next().unwrap_or_default().trim();
                if !command.is_empty() && !command.starts_with('#') {
                    commands.push(command.to_owned());
                }
            }
            _ => {}
        }
    }
    commands
}

/// Whether a script line runs `command`: the line is the command, maybe
/// with more arguments or redirections after it.
fn runs(line: &str, command: &str) -> bool {
    let line = line.trim();
    line == command || line.strip_prefix(command).is_some_and(|rest| rest.starts_with(' '))
}

#[test]
fn every_command_of_the_first_screen_is_run_by_ci() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = first_screen_commands(&readme);
    for expected in ["cargo install --path .", "relay demo", "cargo test"] {
        assert!(commands.iter().any(|c| c == expected), "the first screen should show `{expected}`: {commands:?}");
    }
    let scripts: Vec<String> =
        CI_SCRIPTS.iter().map(|script| std::fs::read_to_string(root.join(script)).unwrap()).collect();
    let missing: Vec<&String> = commands
        .iter()
        .filter(|command| !scripts.iter().flat_map(|text| text.lines()).any(|line| runs(line, command)))
        .collect();
    assert!(missing.is_empty(), "README first-screen commands that CI ({CI_SCRIPTS:?}) does not run: {missing:?}");
    assert!(readme[readme.find(FIRST_SCREEN[0]).unwrap()..].contains("```python"), "the SDK snippet is gone");
}

#[test]
fn a_line_runs_a_command_with_more_arguments_but_not_a_longer_word() {
    assert!(runs("  cargo test --locked", "cargo test"));
    assert!(runs("relay demo >out &", "relay demo"));
    assert!(!runs("cargo testing", "cargo test"));
    assert!(!runs("echo relay demo", "relay demo"));
}
