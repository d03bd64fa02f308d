//! The editor schema of spec files (`schemas/relay-routes.schema.json`):
//! the committed file is what the serde types generate (`RELAY_BLESS=1`
//! rewrites it), every shipped spec file names it on its first line and
//! passes it, and it rejects what serde rejects (an unknown key, a wrong
//! type).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

#[path = "support/golden.rs"]
mod golden;

use std::path::{Path, PathBuf};

use relay::spec::schema::{SCHEMA_PATH, spec_file_schema_text};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped spec files: `routes.d/`, the examples' and the bench's.
fn shipped_spec_files() -> Vec<PathBuf> {
    let dirs = [
        "routes.d",
        "examples/consumers/routes.d",
        "examples/production/routes.d",
        "examples/two-ports",
        "bench/consumers/routes.d",
        "bench/consumers/lookup.d",
    ];
    let mut files = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "found only {files:?}");
    files
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join(SCHEMA_PATH)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// A TOML document as the JSON value editors check against the schema.
fn as_json(text: &str) -> Value {
    serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap()
}

/// The schema's complaints about `text`, one line each.
fn problems(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    validator.iter_errors(&as_json(text)).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// Whether the relay's own parser accepts `text` as a spec file.
fn serde_accepts(text: &str) -> bool {
    let source = relay::diagnostics::Source::new(PathBuf::from("t.toml"), text.to_owned());
    relay::spec::parse_file(source).is_ok()
}

#[test]
fn committed_schema_is_the_generated_one() {
    golden::assert_golden(&root().join(SCHEMA_PATH), &spec_file_schema_text());
}

#[test]
fn relay_schema_prints_the_committed_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relay")).arg("schema").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read_to_string(root().join(SCHEMA_PATH)).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
fn every_shipped_spec_file_names_the_schema_and_passes_it() {
    let validator = validator();
    let schema = root().join(SCHEMA_PATH).canonicalize().unwrap();
    for path in shipped_spec_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let named = first.strip_prefix("#:schema ").unwrap_or_else(|| {
            panic!("{}: the first line is not `#:schema <path to {SCHEMA_PATH}>`: {first:?}", path.display())
        });
        let target = path.parent().unwrap().join(named.trim());
        assert_eq!(target.canonicalize().ok().as_ref(), Some(&schema), "{}: {first}", path.display());
        let found = problems(&validator, &text);
        assert!(found.is_empty(), "{} does not pass the schema:\n{}", path.display(), found.join("\n"));
    }
}

/// Files serde accepts: the schema accepts them too.
#[test]
fn the_schema_accepts_both_forms_of_routes_and_the_tagged_enums() {
    let validator = validator();
    let accepted = [
        "[routes]\n\"models.list\" = \"GET /v1/models  List models\"\nfiles.get = \"GET /v1/files/{id}\"\n",
        "[routes]\n\"files.create\" = { at = \"POST /v1/files\", body = { max = \"512MiB\" }, cors = false }\n",
        "[routes.files]\nlist = \"GET /v1/files\"\n",
        "[upstream.o]\nbase_url = \"http://x/v1\"\nauth = { mode = \"bearer\", env = \"K\" }\n",
        "[[route]]\nid = \"a\"\nmethod = [\"GET\", \"HEAD\"]\npath = \"/a\"\n[[route.transforms]]\ntype = \"json_fields\"\nset = { model = \"x\", n = 1 }\n",
        "[consumer.c]\nkeys = [\"sha256:ab\", { key = \"${K}\", expires = \"2027-01-31\" }]\n",
    ];
    for text in accepted {
        assert!(serde_accepts(text), "serde refuses {text}");
        let found = problems(&validator, text);
        assert!(found.is_empty(), "{text}\n{}", found.join("\n"));
    }
}

/// Files serde refuses for an unknown key or a wrong type: the schema
/// refuses them too, at the offending value.
#[test]
fn the_schema_rejects_unknown_keys_and_wrong_types() {
    let validator = validator();
    let rejected = [
        ("[[route]]\nid = \"a\"\nmethod = \"GET\"\npath = \"/a\"\ntimeuot = \"5s\"\n", "/route/0"),
        ("[[route]]\nid = \"a\"\nmethod = \"GET\"\npath = \"/a\"\npublic = \"yes\"\n", "/route/0/public"),
        ("[routes]\n\"files.create\" = { at = \"POST /v1/files\", bdoy = {} }\n", "/routes/files.create"),
        ("[upstream.o]\nbase_url = \"http://x/v1\"\nauth = { mode = \"basic\" }\n", "/upstream/o/auth"),
        ("[[route]]\nid = \"a\"\nmethod = 1\npath = \"/a\"\n", "/route/0/method"),
        (
            "[[route]]\nid = \"a\"\nmethod = \"GET\"\npath = \"/a\"\n[[route.transforms]]\ntype = \"envelope\"\nallow = []\nextra = 1\n",
            "/route/0/transforms/0",
        ),
        ("[state]\nwhen_unreachable = \"fail_later\"\n", "/state/when_unreachable"),
        ("[upstreams.o]\nbase_url = \"http://x/v1\"\n", ""),
    ];
    for (text, at) in rejected {
        assert!(!serde_accepts(text), "serde accepts {text}");
        let found = problems(&validator, text);
        assert!(!found.is_empty(), "the schema accepts {text}");
        assert!(
            found.iter().any(|p| p.starts_with(&format!("{at}:"))),
            "{text}: expected a problem at {at:?}, got {found:?}"
        );
    }
}
