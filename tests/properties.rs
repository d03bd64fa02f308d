//! Property tests: the path check, URL building, the SSE splitter and the
//! spec loader take any input without panicking, and keep their promises
//! (no dot segment or encoded slash gets through; parameters reach the URL
//! byte for byte; chunk boundaries do not change the events).
//!
//! Case counts are set so that each property runs in well under a second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use actix_web::http::Method;
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use relay::diagnostics::Source;
use relay::env::Env;
use relay::table::Table;
use relay::table::path::check_path;
use relay::transforms::chat_to_responses::sse::{SseEvent, SseSplitter};

/// Pieces that make paths interesting: every spelling of a dot, slash,
/// backslash and NUL, plus ordinary characters.
fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E".to_owned()),
        Just("%2f".to_owned()),
        Just("%2F".to_owned()),
        Just("%5c".to_owned()),
        Just("%00".to_owned()),
        Just("%25".to_owned()),
        Just("%".to_owned()),
        Just("\\".to_owned()),
        Just("v1".to_owned()),
        "[a-zA-Z0-9_~:@!$&'()*+,;=-]{1,4}",
        any::<char>().prop_map(String::from),
    ]
}

fn tricky_path() -> impl Strategy<Value = String> {
    prop::collection::vec(path_piece(), 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_path_check_lets_no_dot_segment_or_encoded_slash_through(path in prop_oneof![tricky_path(), any::<String>()]) {
        if let Ok(accepted) = check_path(&path) {
            prop_assert_eq!(accepted, path.as_str());
            prop_assert!(accepted.starts_with('/'));
            prop_assert!(!accepted.contains('\\'));
            for segment in accepted.split('/') {
                // What the upstream sees after decoding one level.
                let decoded = percent_decode_str(segment).collect::<Vec<u8>>();
                prop_assert!(decoded != b"." && decoded != b"..", "dot segment {segment:?} in {accepted:?}");
                prop_assert!(!decoded.contains(&b'/') && !decoded.contains(&b'\\'), "encoded slash in {accepted:?}");
                prop_assert!(!decoded.contains(&0), "encoded NUL in {accepted:?}");
            }
        }
    }
}

const BASE: &str = "http://upstream.test/v1";

const ROUTES: &str = r#"
[upstream.openai]
base_url = "http://upstream.test/v1"

[[route]]
id = "content"
method = "GET"
path = "/v1/files/{id}/content"

[[route]]
id = "pair"
method = "POST"
path = "/v1/things/{a}/parts/{b}"
upstream_path = "/parts/{b}/of/{a}"
"#;

fn table() -> Table {
    let source = Source::new("routes.d/routes.toml".into(), ROUTES.to_owned());
    let file = relay::spec::parse_file(source).unwrap();
    relay::compile::compile(&[file], &Env::from_pairs([("OPENAI_API_KEY", "sk-test")])).unwrap()
}

/// A path segment value: anything but the characters that end a segment.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^/?#]{1,12}",
        prop::collection::vec(path_piece(), 1..5).prop_map(|p| p.concat().replace(['/', '?', '#'], "x")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn urls_start_with_the_base_and_carry_parameters_byte_for_byte(
        id in segment(),
        a in segment(),
        b in segment(),
        query in proptest::option::of("[^#]{0,16}"),
    ) {
        let table = table();
        let path = format!("/v1/files/{id}/content");
        if let Ok(resolved) = table.resolve("default", &Method::GET, &path, query.as_deref()) {
            prop_assert!(resolved.url.starts_with(BASE));
            let mut expected = format!("{BASE}/files/{id}/content");
            if let Some(query) = &query {
                expected.push('?');
                expected.push_str(query);
            }
            prop_assert_eq!(&resolved.url, &expected);
            prop_assert_eq!(resolved.params, vec![id.as_str()]);
        } else {
            // Only the path check refuses a path that has the route's shape.
            prop_assert!(check_path(&path).is_err(), "{path:?} was refused but passes the path check");
        }
        let path = format!("/v1/things/{a}/parts/{b}");
        if let Ok(resolved) = table.resolve("default", &Method::POST, &path, None) {
            prop_assert_eq!(resolved.url, format!("{BASE}/parts/{b}/of/{a}"));
        } else {
            prop_assert!(check_path(&path).is_err(), "{path:?} was refused but passes the path check");
        }
    }

    #[test]
    fn resolving_any_path_does_not_panic(path in prop_oneof![tricky_path(), any::<String>()], query in any::<Option<String>>()) {
        let table = table();
        for method in [Method::GET, Method::POST, Method::DELETE] {
            if let Ok(resolved) = table.resolve("default", &method, &path, query.as_deref()) {
                prop_assert!(resolved.url.starts_with(BASE));
            }
        }
    }
}

/// Events from `chunks` fed one by one, then the end of the stream.
fn events_of(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut splitter = SseSplitter::new(1 << 20);
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(splitter.push(chunk).unwrap());
    }
    events.extend(splitter.finish());
    events
}

/// SSE text: fields, comments and blank lines with any line ending.
fn sse_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "data: [ -~]{0,12}",
        "data:[ -~]{0,4}",
        "event: [a-z.]{1,8}",
        Just(": keep-alive".to_owned()),
        Just("id: 7".to_owned()),
        Just("retry: 10".to_owned()),
        Just(String::new()),
        Just("data: é✓".to_owned()),
    ];
    let ending = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    prop::collection::vec((line, ending), 0..24)
        .prop_map(|lines| lines.into_iter().flat_map(|(l, e)| [l, e.to_owned()]).collect::<String>().into_bytes())
}

/// Cut points (sorted, deduplicated) inside a stream of `len` bytes.
fn cut(bytes: &[u8], mut points: Vec<usize>) -> Vec<&[u8]> {
    points.iter_mut().for_each(|p| *p %= bytes.len() + 1);
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points {
        chunks.push(&bytes[start..point]);
        start = point;
    }
    chunks.push(&bytes[start..]);
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn sse_chunk_boundaries_do_not_change_the_events(
        text in prop_oneof![sse_text(), prop::collection::vec(any::<u8>(), 0..200)],
        points in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let whole = events_of(&[&text]);
        let pieces = events_of(&cut(&text, points));
        prop_assert_eq!(&pieces, &whole);
        let bytewise: Vec<&[u8]> = text.chunks(1).collect();
        prop_assert_eq!(&events_of(&bytewise), &whole);
    }

    #[test]
    fn the_sse_splitter_takes_any_bytes_under_any_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        limit in 0usize..64,
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut splitter = SseSplitter::new(limit);
        for chunk in cut(&bytes, points) {
            if splitter.push(chunk).is_err() {
                break;
            }
        }
        let _ = splitter.finish();
    }
}

/// Lines that look like route specs, right and wrong.
fn toml_ish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[[route]]"),
        Just("[upstream.openai]"),
        Just("[upstream.other]"),
        Just("[defaults]"),
        Just("[listener.side]"),
        Just("[[route.transforms]]"),
        Just("[[route.guards]]"),
        Just("[route.body]"),
        Just("[route.retry]"),
        Just("[route.websocket]"),
        Just("id = \"a\""),
        Just("id = \"b\""),
        Just("method = \"GET\""),
        Just("method = [\"POST\", \"BREW\"]"),
        Just("path = \"/v1/files/{id}\""),
        Just("path = \"/v1/{a}/{a}\""),
        Just("path = \"v1/../x\""),
        Just("upstream_path = \"/x/{id}/{nope}\""),
        Just("upstream = \"other\""),
        Just("upstream = \"missing\""),
        Just("base_url = \"http://127.0.0.1:1/v1\""),
        Just("base_url = \"${NOPE}\""),
        Just("timeout = \"0s\""),
        Just("timeout = \"5 fortnights\""),
        Just("idle_timeout = 3"),
        Just("max = \"1KiB\""),
        Just("max = \"-1\""),
        Just("accept = [\"application/json\", \"\"]"),
        Just("type = \"json_to_multipart\""),
        Just("type = \"chat_to_responses\""),
        Just("type = \"envelope\""),
        Just("fields = [\"model\"]"),
        Just("listen = \"127.0.0.1:0\""),
        Just("listeners = [\"side\", \"ghost\"]"),
        Just("protocol = \"websocket\""),
        Just("when = \"{{ body.model == 'x' }}\""),
        Just("attempts = 0"),
        Just("x = { y = [1, 2, { z = \"\" }] }"),
        Just("= broken"),
        Just("\"unterminated"),
        Just("[["),
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

fn load(text: String) -> Result<(), Vec<relay::diagnostics::SpecError>> {
    let lines = text.lines().count();
    let env = Env::from_pairs([("OPENAI_API_KEY", "sk-test")]);
    let file = relay::spec::parse_file(Source::new("routes.d/p.toml".into(), text)).map_err(|e| vec![e])?;
    let result = relay::compile::compile(&[file], &env).map(drop);
    if let Err(errors) = &result {
        for error in errors {
            assert!(error.line <= lines + 1, "{error} is beyond the file's {lines} lines");
        }
    }
    result
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_spec_loader_takes_any_text(text in any::<String>()) {
        let _ = load(text);
    }

    #[test]
    fn the_spec_loader_takes_any_toml_ish_text(text in toml_ish()) {
        let _ = load(text);
    }
}
