//! Authoring forms: a `[routes]` line compiles to exactly the route its
//! `[[route]]` long form does, both forms mix in one file in the order they
//! are written, and a bad line is reported where it is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::path::Path;

use relay::compile::load_table;
use relay::env::Env;
use relay::table::Table;

const UPSTREAM: &str = "[upstream.openai]\nbase_url = \"https://api.openai.com/v1\"\n\n";

/// Compiles one file (plus the upstream) in a fresh directory.
fn compile(files: &[(&str, &str)]) -> Result<Table, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-upstream.toml"), UPSTREAM).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let env = Env::from_pairs([("OPENAI_API_KEY", "sk-test")]);
    let prefix = format!("{}/", dir.path().display());
    load_table(dir.path(), &env).map_err(|errors| errors.iter().map(|e| e.to_string().replace(&prefix, "")).collect())
}

/// Every compiled route as text, without where it was written.
fn routes_without_origin(table: &Table) -> Vec<String> {
    table
        .routes
        .iter()
        .map(|route| {
            let text = format!("{route:#?}");
            let start = text.find("\n    origin: Origin {").expect("a route has an origin");
            let end = start + text[start..].find("\n    },").expect("the origin ends") + "\n    },".len();
            let mut text = format!("{}{}", &text[..start], &text[end..]);
            text.truncate(text.find("\n    defaulted: [").expect("a route lists its defaulted keys"));
            // Each case compiles in its own temporary directory.
            // Other locations (`openapi_origin`) differ between the forms too.
            text.lines()
                .filter(|line| !line.trim_start().starts_with("line: ") && !line.trim_start().starts_with("column: "))
                .map(|line| line.rsplit_once("/").filter(|_| line.contains("file: \"")).map_or(line, |(_, name)| name))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[test]
fn a_compact_line_compiles_to_its_long_form() {
    let long = "[defaults]\ntags = [\"Models\"]\n\n\
                [[route]]\nid = \"models.list\"\nmethod = \"GET\"\npath = \"/v1/models\"\nsummary = \"List models\"\n\n\
                [[route]]\nid = \"models.get\"\nmethod = [\"GET\", \"HEAD\"]\npath = \"/v1/models/{model}\"\n\n\
                [[route]]\nid = \"models.delete\"\nmethod = \"DELETE\"\npath = \"/v1/models/{model}\"\n\
                summary = \"Delete a fine-tuned  model\"\n";
    let compact = "[defaults]\ntags = [\"Models\"]\n\n[routes]\n\
                   \"models.list\"   = \"GET /v1/models  List models\"\n\
                   models.get      = \"GET,HEAD   /v1/models/{model}\"\n\
                   'models.delete' = 'DELETE /v1/models/{model}  Delete a fine-tuned  model  '\n";
    let long = routes_without_origin(&compile(&[("models.toml", long)]).unwrap());
    let compact = routes_without_origin(&compile(&[("models.toml", compact)]).unwrap());
    assert_eq!(long.len(), 3);
    assert_eq!(long, compact);
}

#[test]
fn an_inline_entry_compiles_to_its_long_form() {
    let long = "[[route]]\nid = \"chat.list\"\nmethod = \"GET\"\npath = \"/v1/chat/completions\"\n\
                summary = \"List stored chat completions\"\nbody = { max = \"1MiB\" }\n\
                openapi = { hidden = true, operation_id = \"listChats\" }\nupstream_path = \"/chat/completions\"\n";
    let inline = "[routes]\n\"chat.list\" = { at = \"GET /v1/chat/completions  List stored chat completions\", \
                  body = { max = \"1MiB\" }, openapi = { hidden = true, operation_id = \"listChats\" }, \
                  upstream_path = \"/chat/completions\" }\n";
    let long = routes_without_origin(&compile(&[("chat.toml", long)]).unwrap());
    let inline = routes_without_origin(&compile(&[("chat.toml", inline)]).unwrap());
    assert_eq!(long, inline);
    assert!(long[0].contains("listChats") && long[0].contains("1048576"), "{}", long[0]);
}

#[test]
fn bad_inline_entries_are_located() {
    let cases = [
        ("\"x\" = { at = \"GET\" }", "x.toml:2:18: error: route `x` has no path after the method"),
        ("\"x\" = { at = \"GET /v1/x\", body = { max = \"1XB\" } }", "x.toml:2:42: error: `body.max` is not a size"),
        ("\"x\" = { at = \"GET /v1/x\", summary = \"a\" }", "x.toml:2:27: error: unknown field `summary`"),
        ("\"x\" = { at = 3 }", "x.toml:2:14: error: invalid type: integer `3`, expected a string"),
    ];
    for (line, expected) in cases {
        let errors = compile(&[("x.toml", &format!("[routes]\n{line}\n"))]).unwrap_err();
        assert!(errors.len() == 1 && errors[0].starts_with(expected), "{line}: {errors:?}");
    }
    let errors = compile(&[("x.toml", "[routes]\nx = { at = \"GET /v1/x\", summary = \"a\" }\n")]).unwrap_err();
    assert!(errors[0].contains("hint: in a [routes] table the key is the id and `at` holds the rest"), "{errors:?}");
}

#[test]
fn both_forms_mix_in_the_order_they_are_written() {
    let text = "[[route]]\nid = \"a\"\nmethod = \"GET\"\npath = \"/v1/a\"\n\n\
                [routes]\nb = \"GET /v1/b\"\nc.d = \"GET /v1/c/d\"\ne = \"POST /v1/e\"\n\n\
                [[route]]\nid = \"f\"\nmethod = \"GET\"\npath = \"/v1/f\"\n";
    let table = compile(&[("x.toml", text)]).unwrap();
    let order: Vec<(&str, usize)> = table.routes.iter().map(|r| (r.id.as_str(), r.origin.line)).collect();
    assert_eq!(order, [("a", 1), ("b", 7), ("c.d", 8), ("e", 9), ("f", 11)]);

    // Sub-tables of `[routes]` can sit between `[[route]]` blocks.
    let text = "[routes.x]\nget = \"GET /v1/x\"\n\n[[route]]\nid = \"y\"\nmethod = \"GET\"\npath = \"/v1/y\"\n\n\
                [routes.z]\nget = \"GET /v1/z\"\ndelete = \"DELETE /v1/z\"\n";
    let table = compile(&[("x.toml", text)]).unwrap();
    let order: Vec<(&str, usize, usize)> =
        table.routes.iter().map(|r| (r.id.as_str(), r.origin.line, r.origin.column)).collect();
    assert_eq!(order, [("x.get", 2, 1), ("y", 4, 1), ("z.get", 10, 1), ("z.delete", 11, 1)]);
}

#[test]
fn a_compact_route_takes_part_in_override_and_duplicate_checks() {
    let first = "[routes]\n\"x.get\" = \"GET /v1/x\"\n";
    let again = "[[route]]\nid = \"x.get\"\nmethod = \"GET\"\npath = \"/v1/y\"\n";
    let errors = compile(&[("a.toml", first), ("b.toml", again)]).unwrap_err();
    assert!(errors.iter().any(|e| e.starts_with("b.toml:2:6: error: route id `x.get` is used twice")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("the first use is at a.toml:2:1")), "{errors:?}");
    let replacing = "[[route]]\nid = \"x.get\"\noverride = true\nmethod = \"GET\"\npath = \"/v1/y\"\n";
    let table = compile(&[("a.toml", first), ("b.toml", replacing)]).unwrap();
    assert_eq!(table.routes.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/v1/y"]);
}

#[test]
fn bad_lines_are_located_inside_the_string() {
    let cases = [
        ("\"x\" = \"GET\"", "x.toml:2:11: error: route `x` has no path after the method"),
        ("\"x\" = \"/v1/x\"", "x.toml:2:8: error: route `x` starts with a path; the method comes first"),
        ("\"x\" = \"GET  v1/x\"", "x.toml:2:13: error: route `x`: \"v1/x\" is not a path"),
        ("\"x\" = \"\"", "x.toml:2:8: error: route `x` is empty"),
        ("\"x\" = \"GTE /v1/x\"", "x.toml:2:8: error: unknown method \"GTE\""),
        ("\"x\" = \"GET /v1/{a\"", "x.toml:2:12: error: "),
        ("\"x y\" = \"GET /v1/x\"", "x.toml:2:1: error: route id \"x y\" is not valid"),
        ("\"x\" = 3", "x.toml:2:7: error: invalid type: integer `3`, expected a route line"),
    ];
    for (line, expected) in cases {
        let errors = compile(&[("x.toml", &format!("[routes]\n{line}\n"))]).unwrap_err();
        assert!(errors.len() == 1 && errors[0].starts_with(expected), "{line}: {errors:?}");
        assert!(errors[0].contains("hint:") || line.ends_with('3'), "{line}: no hint in {errors:?}");
    }
}
#[test]
fn the_shipped_routes_use_the_compact_form() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut compact = 0;
    for entry in std::fs::read_dir(root.join("routes.d")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        compact += text.lines().filter(|l| l.contains(" = \"") && l.starts_with('"') && l.contains(" /v1/")).count();
    }
    assert!(compact >= 250, "only {compact} compact routes in routes.d/");
}
