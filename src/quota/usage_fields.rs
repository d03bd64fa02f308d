//! [`UsageFields`]: the counts of one `usage` object, read from the JSON
//! text where it starts. A flat reader takes what upstreams write (plain
//! keys, integer counts, other values skipped) without building anything;
//! whatever it is unsure of (an escaped key, a duplicate, a count that is
//! not a plain integer, a truncated object) is read by serde instead. On
//! well-formed JSON the two agree (a property test checks it).

use serde::Deserialize;

/// The fields of a `usage` object the relay counts (chat completions,
/// embeddings and Responses name them differently).
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct UsageFields {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub prompt_tokens_details: Option<Details>,
    pub input_tokens_details: Option<Details>,
}

/// The part of `*_tokens_details` the relay counts.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Details {
    pub cached_tokens: Option<u64>,
}

impl UsageFields {
    /// The object at the start of `json` (what follows it is ignored), or
    /// `None` when it is not a `usage` object.
    pub fn read(json: &[u8]) -> Option<UsageFields> {
        Flat { json, at: 0 }
            .usage()
            .or_else(|| UsageFields::deserialize(&mut serde_json::Deserializer::from_slice(json)).ok())
    }
}

/// The flat reader; `None` means "not sure": serde decides.
struct Flat<'a> {
    json: &'a [u8],
    at: usize,
}

impl<'a> Flat<'a> {
    fn usage(&mut self) -> Option<UsageFields> {
        /// The keys counted, in the order of `UsageFields`' fields.
        const KEYS: [&[u8]; 7] = [
            b"prompt_tokens",
            b"completion_tokens",
            b"input_tokens",
            b"output_tokens",
            b"total_tokens",
            b"prompt_tokens_details",
            b"input_tokens_details",
        ];
        let mut fields = UsageFields::default();
        let mut seen = 0u8;
        self.members(|reader, key| {
            let Some(index) = KEYS.iter().position(|known| *known == key) else { return reader.skip_value() };
            // serde refuses a duplicate field: so does this reader.
            (seen & (1 << index) == 0).then_some(())?;
            seen |= 1 << index;
            match index {
                0 => fields.prompt_tokens = reader.count()?,
                1 => fields.completion_tokens = reader.count()?,
                2 => fields.input_tokens = reader.count()?,
                3 => fields.output_tokens = reader.count()?,
                4 => fields.total_tokens = reader.count()?,
                5 => fields.prompt_tokens_details = reader.details()?,
                _ => fields.input_tokens_details = reader.details()?,
            }
            Some(())
        })?;
        Some(fields)
    }

    /// A `*_tokens_details` value: `null` or an object.
    fn details(&mut self) -> Option<Option<Details>> {
        if self.literal(b"null") {
            return Some(None);
        }
        let mut details = Details::default();
        let mut seen = false;
        self.members(|reader, key| match key {
            b"cached_tokens" if !seen => {
                seen = true;
                details.cached_tokens = reader.count()?;
                Some(())
            }
            b"cached_tokens" => None,
            _ => reader.skip_value(),
        })?;
        Some(Some(details))
    }

    /// An object's members, each key handed to `member` to read its value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.expect(b':')?;
            self.peek()?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A count: `null`, or an unsigned integer as JSON writes it.
    fn count(&mut self) -> Option<Option<u64>> {
        if self.literal(b"null") {
            return Some(None);
        }
        let digits = self.json[self.at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let text = &self.json[self.at..self.at + digits];
        let after = self.json.get(self.at + digits)?;
        if digits == 0 || (digits > 1 && text[0] == b'0') || matches!(after, b'.' | b'e' | b'E') {
            return None;
        }
        self.at += digits;
        text.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0'))).map(Some)
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.at += 1;
                }
                b',' | b':' if depth > 0 => self.at += 1,
                b't' | b'f' | b'n' => {
                    (self.literal(b"true") || self.literal(b"false") || self.literal(b"null")).then_some(())?;
                }
                b'-' | b'0'..=b'9' => {
                    let rest = &self.json[self.at..];
                    self.at +=
                        rest.iter().take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')).count();
                }
                _ => return None,
            }
            if depth == 0 {
                return Some(());
            }
        }
    }

    /// A string without escapes: its bytes (`None` for one with escapes).
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let (json, start) = (self.json, self.at);
        let length = memchr::memchr2(b'"', b'\\', &json[start..])?;
        (json[start + length] == b'"').then(|| {
            self.at += length + 1;
            &json[start..start + length]
        })
    }

    /// Moves past a string (at its opening quote).
    fn string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        let mut at = self.at;
        loop {
            at += memchr::memchr2(b'"', b'\\', &self.json[at..])?;
            if self.json[at] == b'"' {
                self.at = at + 1;
                return Some(());
            }
            at += 2;
            if at > self.json.len() {
                return None;
            }
        }
    }

    /// Moves past `word` if it is next.
    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.json[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    /// Moves past `byte` (after any whitespace), or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The next byte that is not whitespace, which it moves to.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.json.get(self.at) {
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn flat(json: &str) -> Option<UsageFields> {
        Flat { json: json.as_bytes(), at: 0 }.usage()
    }

    #[test]
    fn what_upstreams_write_is_read_flat() {
        let chat = r#"{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"accepted_prediction_tokens":null}}, "x": 1"#;
        let fields = flat(chat).unwrap();
        assert_eq!((fields.prompt_tokens, fields.completion_tokens, fields.total_tokens), (Some(9), Some(3), Some(12)));
        assert_eq!(fields.prompt_tokens_details, Some(Details { cached_tokens: Some(4) }));
        let responses =
            "{ \"input_tokens\" : 11,\n\"input_tokens_details\":null, \"output_tokens\":2, \"note\":[\"a\\\"}\",{}] }";
        assert_eq!(flat(responses).unwrap(), UsageFields::read(responses.as_bytes()).unwrap());
    }

    #[test]
    fn what_it_is_unsure_of_goes_to_serde() {
        for unsure in [
            r#"{"prompt_t\u006fkens":5}"#,
            r#"{"prompt_tokens":5,"prompt_tokens":6}"#,
            r#"{"prompt_tokens":5.0}"#,
            r#"{"prompt_tokens":-1}"#,
            r#"{"prompt_tokens":05}"#,
            r#"{"prompt_tokens":99999999999999999999}"#,
            r#"{"prompt_tokens":"5"}"#,
            r#"{"prompt_tokens":5"#,
            r#"{"x":nul}"#,
        ] {
            assert_eq!(flat(unsure), None, "{unsure}");
        }
        assert_eq!(UsageFields::read(br#"{"prompt_t\u006fkens":5}"#).unwrap().prompt_tokens, Some(5));
        assert_eq!(UsageFields::read(br#"{"prompt_tokens":5,"prompt_tokens":6}"#), None);
    }

    /// A JSON value of any kind, a few levels deep.
    fn any_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-z\"\\\\{}:, é]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// A count, a detail object, or anything.
    fn member() -> impl Strategy<Value = (String, serde_json::Value)> {
        let names = prop_oneof![
            Just("prompt_tokens"),
            Just("completion_tokens"),
            Just("input_tokens"),
            Just("output_tokens"),
            Just("total_tokens"),
            Just("prompt_tokens_details"),
            Just("input_tokens_details"),
            Just("cached_tokens"),
            Just("reasoning_tokens"),
        ];
        let value = prop_oneof![
            any::<u64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(|n| serde_json::json!({"cached_tokens": n, "audio_tokens": 1})),
            any_value(),
        ];
        (names.prop_map(str::to_owned), value)
    }

    proptest! {
        #[test]
        fn flat_and_serde_agree(members in prop::collection::vec(member(), 0..8), spaced in any::<bool>()) {
            let pairs: Vec<String> = members
                .iter()
                .map(|(key, value)| format!("{}:{}", serde_json::json!(key), value))
                .collect();
            let separator = if spaced { " ,\n " } else { "," };
            let json = format!("{{{}}},\"after\":1}}", pairs.join(separator));
            let serde = UsageFields::deserialize(&mut serde_json::Deserializer::from_slice(json.as_bytes())).ok();
            if let Some(flat) = flat(&json) {
                prop_assert_eq!(Some(flat), serde, "{}", json);
            }
        }
    }
}
