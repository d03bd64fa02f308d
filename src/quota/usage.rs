//! Token usage read from the upstream's answer as it streams by, without
//! holding it: the model from the first bytes (`"model":"…"` comes early
//! in every OpenAI answer and stream event), the usage from the last
//! `"usage":{…}` object seen (chat completions' JSON and final stream
//! chunk, Responses' `response.completed`, embeddings). A `"usage":{` can
//! only be a key: inside a JSON string the quotes are escaped. Memory is
//! bounded: a head of [`HEAD`] bytes and a tail of [`TAIL`] bytes, or the
//! answer's one chunk while it is the only one.

use bytes::Bytes;

use super::usage_fields::UsageFields;

/// Bytes kept from the start of the answer, for the model.
pub const HEAD: usize = 1024;
/// Bytes kept from the end of the answer, for the usage.
pub const TAIL: usize = 16 * 1024;

/// Tokens one answer used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub model: Option<String>,
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.output
    }
}

/// Watches an answer's chunks; [`UsageScanner::finish`] reads the usage.
/// An answer that comes in one chunk (most JSON answers) is kept as it
/// came, not copied; from a second chunk on, the head and the tail are
/// copied and the chunks go.
#[derive(Debug, Default)]
pub struct UsageScanner {
    /// The answer while it is one chunk.
    only: Option<Bytes>,
    /// Whether more than one chunk came.
    more: bool,
    /// The first [`HEAD`] bytes, once more than one chunk came.
    head: Vec<u8>,
    /// The last [`TAIL`] bytes, once more than one chunk came.
    tail: Vec<u8>,
}

impl UsageScanner {
    /// Sees one chunk of the answer.
    pub fn feed(&mut self, chunk: &Bytes) {
        if !self.more && self.only.is_none() {
            self.only = Some(chunk.clone());
            return;
        }
        self.more = true;
        if let Some(first) = self.only.take() {
            self.copy(&first);
        }
        self.copy(chunk);
    }

    /// Adds a chunk to the head and the tail.
    fn copy(&mut self, chunk: &[u8]) {
        let take = HEAD.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..take]);
        if chunk.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - TAIL..]);
        } else {
            let overflow = (self.tail.len() + chunk.len()).saturating_sub(TAIL);
            self.tail.drain(..overflow);
            self.tail.extend_from_slice(chunk);
        }
    }

    /// The usage of the answer, if it reported one.
    pub fn finish(&self) -> Option<Usage> {
        let (head, end) = match &self.only {
            Some(only) => (&only[..only.len().min(HEAD)], &only[only.len().saturating_sub(TAIL)..]),
            None => (&self.head[..], &self.tail[..]),
        };
        let fields = last_usage_object(end)?;
        let model = model_in(head).or_else(|| model_in(end));
        let input = fields.prompt_tokens.or(fields.input_tokens).unwrap_or(0);
        // Embeddings report only prompt and total tokens.
        let output = fields
            .completion_tokens
            .or(fields.output_tokens)
            .unwrap_or_else(|| fields.total_tokens.map_or(0, |total| total.saturating_sub(input)));
        let details = fields.prompt_tokens_details.or(fields.input_tokens_details);
        let cached_input = details.and_then(|d| d.cached_tokens).unwrap_or(0);
        Some(Usage { model, input, cached_input, output })
    }
}

/// The usage a session event reports: Realtime's `response.done` and the
/// Responses WebSocket mode's `response.completed` carry their response's.
pub fn of_event(event: &[u8]) -> Option<Usage> {
    let kind = |name: &[u8]| event.windows(name.len()).any(|w| w == name);
    if !(kind(b"\"response.done\"") || kind(b"\"response.completed\"")) {
        return None;
    }
    let mut scanner = UsageScanner::default();
    scanner.feed(&Bytes::copy_from_slice(event));
    scanner.finish()
}

/// The last `"usage":{…}` object of `bytes` that parses.
fn last_usage_object(bytes: &[u8]) -> Option<UsageFields> {
    let mut end = bytes.len();
    while let Some(at) = last_usage_key(&bytes[..end]) {
        let rest = &bytes[at + USAGE_KEY.len()..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        if rest[start] == b'{'
            && let Some(fields) = UsageFields::read(&rest[start..])
        {
            return Some(fields);
        }
        end = at;
    }
    None
}

const USAGE_KEY: &[u8] = b"\"usage\":";

/// Where the last `"usage":` of `bytes` starts.
fn last_usage_key(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'g', bytes).find_map(|at| key_around(bytes, at, USAGE_KEY, 4))
}

/// Where `key` starts in `bytes`, if its byte `key[index]` is at `at`. A
/// key is searched for by one of its rarer bytes in JSON, a vector at a
/// time, and then checked around it: the text scanned here is at most
/// [`HEAD`] or [`TAIL`] bytes, where measured this costs less than
/// memchr's substring searchers.
fn key_around(bytes: &[u8], at: usize, key: &[u8], index: usize) -> Option<usize> {
    let start = at.checked_sub(index)?;
    (bytes.get(start..start + key.len()) == Some(key)).then_some(start)
}

/// The value of the first `"model":"…"` in `bytes`.
fn model_in(bytes: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"model\":";
    let at = memchr::memchr_iter(b'l', bytes).find_map(|at| key_around(bytes, at, KEY, 5))?;
    let rest = &bytes[at + KEY.len()..];
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let value = &rest[start..];
    // A name without escapes (all of them) is its bytes; others are parsed.
    if let Some(end) = value.get(1..).and_then(|after| after.iter().position(|&b| b == b'"' || b == b'\\'))
        && value[0] == b'"'
        && value[1 + end] == b'"'
    {
        return std::str::from_utf8(&value[1..1 + end]).ok().map(str::to_owned);
    }
    let mut values = serde_json::Deserializer::from_slice(value).into_iter::<String>();
    values.next()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&str]) -> Option<Usage> {
        let mut scanner = UsageScanner::default();
        for chunk in chunks {
            scanner.feed(&Bytes::copy_from_slice(chunk.as_bytes()));
        }
        scanner.finish()
    }

    #[test]
    fn chat_json_and_stream() {
        let json = r#"{"id":"c","model":"gpt-4o-mini","choices":[{"message":{"content":"say \"usage\":{1}"}}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let expected = Usage { model: Some("gpt-4o-mini".into()), input: 9, cached_input: 4, output: 3 };
        // Cut anywhere, in two or three chunks: the same usage.
        for cut in 0..=json.len() {
            assert_eq!(scan(&[&json[..cut], &json[cut..]]).as_ref(), Some(&expected), "cut at {cut}");
            let (a, b) = (cut / 2, cut);
            assert_eq!(scan(&[&json[..a], &json[a..b], &json[b..]]).as_ref(), Some(&expected), "cuts {a}, {b}");
        }
        let stream = [
            "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n",
            "data: [DONE]\n\n",
        ];
        assert_eq!(scan(&stream).unwrap().total(), 12);
    }

    #[test]
    fn responses_and_embeddings() {
        let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"o4\",\"usage\":{\"input_tokens\":11,\"output_tokens\":2,\"input_tokens_details\":{\"cached_tokens\":0}}}}\n\n";
        let usage = scan(&[completed]).unwrap();
        assert_eq!((usage.model.as_deref(), usage.input, usage.output), (Some("o4"), 11, 2));
        let embeddings = r#"{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(scan(&[embeddings]).unwrap().total(), 8);
        assert_eq!(scan(&[r#"{"data":[]}"#]), None);
        let escaped = r#"{"model": "gpt\u002d5","usage":{"input_tokens":1}}"#;
        assert_eq!(scan(&[escaped]).unwrap().model.as_deref(), Some("gpt-5"));
    }

    #[test]
    fn realtime_events() {
        let done = br#"{"type":"response.done","response":{"usage":{"total_tokens":30,"input_tokens":20,"output_tokens":10}}}"#;
        assert_eq!(of_event(done).unwrap().total(), 30);
        assert_eq!(of_event(br#"{"type":"response.created","response":{"usage":null}}"#), None);
    }

    /// One chunk or many: the usage is read from the last [`TAIL`] bytes.
    #[test]
    fn the_usage_is_read_from_the_tail_only() {
        let padding = "x".repeat(2 * TAIL);
        let last = format!(r#"{{"model":"m","data":"{padding}","usage":{{"prompt_tokens":2}}}}"#);
        let early = format!(r#"{{"model":"m","usage":{{"prompt_tokens":2}},"data":"{padding}"}}"#);
        for chunks in [vec![&last[..]], vec![&last[..10], &last[10..]]] {
            assert_eq!(scan(&chunks).map(|usage| (usage.model, usage.input)), Some((Some("m".into()), 2)));
        }
        for chunks in [vec![&early[..]], vec![&early[..10], &early[10..]]] {
            assert_eq!(scan(&chunks), None);
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let mut scanner = UsageScanner::default();
        let big = Bytes::from(vec![b'x'; 100_000]);
        for _ in 0..3 {
            scanner.feed(&big);
            scanner.feed(&Bytes::from_static(b"small"));
        }
        assert!(scanner.head.len() <= HEAD && scanner.tail.len() <= TAIL);
        assert!(scanner.tail.ends_with(b"xsmall") && scanner.only.is_none());
    }
}
