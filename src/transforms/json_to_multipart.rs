//! `type = "json_to_multipart"`: a JSON body becomes a `multipart/form-data`
//! upload, for clients that can only send JSON (ChatGPT Actions).
//!
//! ```toml
//! [[route.transforms]]
//! type = "json_to_multipart"
//! fields = ["model", "prompt", "n", "size"]   # copied as text parts when present
//! passthrough_without_files = false   # true: JSON naming no file source goes out unchanged
//!
//! [route.transforms.files.image]              # the file part named `image`
//! refs = "openaiFileIdRefs"   # Actions file references: [{name, id, mime_type, download_link}]
//! ref_index = 0               # which reference (default 0)
//! url = "image_url"           # or a field (or list of fields) holding a URL
//! base64 = ["image_base64", "image"]   # or fields holding base64 or a data: URL
//! mime = ["image/png"]        # accepted types
//! magic = "png"               # the first bytes must say so
//! max = "4MiB"
//! required = true
//! fetch = { hosts = ["*.oaiusercontent.com"] }   # where links may point
//! ```
//!
//! Each file comes from exactly one source present in the request; two, or
//! none for a required file, is a 400 naming the fields. A reference index
//! beyond the list is no source (an optional mask at `[1]` may be left out),
//! and a source field of the wrong type is a 400, never ignored
//! ([`file_part`]). Links are fetched
//! by [`crate::fetch`] (https, resolved-address checks, size cap, no
//! credentials). Text values that are not strings are sent as JSON. The body
//! is built from shared pieces: a fetched file is never copied into it.

mod file_part;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RelayError;
use crate::fetch::{FetchPolicy, HostPattern};
use file_part::FilePart;
pub use file_part::Magic;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonToMultipartSpec {
    #[serde(default)]
    pub fields: Vec<String>,
    /// When the JSON names no file source at all, send it unchanged (for
    /// endpoints that also take JSON natively, such as `/images/edits`).
    #[serde(default)]
    pub passthrough_without_files: bool,
    #[serde(default)]
    pub files: BTreeMap<String, FilePartSpec>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilePartSpec {
    pub refs: Option<String>,
    #[serde(default)]
    pub ref_index: usize,
    pub url: Option<FieldNames>,
    pub base64: Option<FieldNames>,
    #[serde(default)]
    pub mime: Vec<String>,
    pub magic: Option<Magic>,
    pub max: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub fetch: FetchSpec,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub allow_http: bool,
    pub timeout: Option<String>,
}

/// One request field name, or a list of them (`"image_url"`,
/// `["image_base64", "image"]`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum FieldNames {
    One(String),
    Many(Vec<String>),
}

impl FieldNames {
    fn to_vec(names: Option<&FieldNames>) -> Vec<String> {
        match names {
            None => Vec::new(),
            Some(FieldNames::One(name)) => vec![name.clone()],
            Some(FieldNames::Many(names)) => names.clone(),
        }
    }
}

/// The compiled transform.
#[derive(Debug)]
pub struct JsonToMultipart {
    fields: Vec<String>,
    files: Vec<FilePart>,
    passthrough_without_files: bool,
}

/// A finished multipart body, as shared pieces.
#[derive(Debug, Clone)]
pub struct Multipart {
    pub content_type: String,
    pub pieces: Vec<Bytes>,
}

impl Multipart {
    pub fn len(&self) -> u64 {
        self.pieces.iter().map(|p| p.len() as u64).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

/// How links are fetched: the TLS settings, (for tests only) which
/// addresses may be reached, and whether this is a dry run (`relay explain`,
/// `relay test`), which fetches nothing and puts a placeholder in the part.
#[derive(Clone)]
pub struct FetchContext {
    pub tls: std::sync::Arc<rustls::ClientConfig>,
    pub address_check: crate::fetch::AddressCheck,
    pub dry_run: bool,
}

impl JsonToMultipart {
    pub fn compile(spec: &JsonToMultipartSpec) -> Result<Self, String> {
        let mut files = Vec::new();
        for (name, part) in &spec.files {
            let (urls, base64) = (FieldNames::to_vec(part.url.as_ref()), FieldNames::to_vec(part.base64.as_ref()));
            if part.refs.is_none() && urls.is_empty() && base64.is_empty() {
                return Err(format!("file part `{name}` needs a source: `refs`, `url` or `base64`"));
            }
            let mut policy = FetchPolicy { allow_http: part.fetch.allow_http, ..FetchPolicy::default() };
            if let Some(max) = &part.max {
                policy.max_bytes = crate::spec::units::size(max).map_err(|e| format!("`{name}.max` {e}"))?;
            }
            if let Some(timeout) = &part.fetch.timeout {
                policy.total_timeout =
                    crate::spec::units::duration(timeout).map_err(|e| format!("`{name}.fetch.timeout` {e}"))?;
            }
            policy.allowed_hosts = part
                .fetch
                .hosts
                .iter()
                .map(|h| HostPattern::parse(h))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("`{name}.fetch.hosts`: {e}"))?;
            files.push(FilePart {
                name: name.clone(),
                refs: part.refs.clone(),
                ref_index: part.ref_index,
                urls,
                base64,
                mime: part.mime.iter().map(|m| m.to_ascii_lowercase()).collect(),
                magic: part.magic,
                policy,
                required: part.required,
            });
        }
        Ok(JsonToMultipart {
            fields: spec.fields.clone(),
            files,
            passthrough_without_files: spec.passthrough_without_files,
        })
    }

    /// How the links of the file part `name` are fetched, if there is one.
    pub fn file_policy(&self, name: &str) -> Option<&FetchPolicy> {
        self.files.iter().find(|part| part.name == name).map(|part| &part.policy)
    }

    /// Whether this JSON body is sent as it is: the route allows it and the
    /// body names none of the file sources.
    pub fn passes_through(&self, body: &Value) -> bool {
        self.passthrough_without_files
            && self.files.iter().flat_map(FilePart::fields).all(|field| body.get(field).is_none_or(Value::is_null))
    }

    /// Builds the multipart body from a JSON body, fetching linked files.
    pub async fn build(&self, body: &Value, fetch: &FetchContext) -> Result<Multipart, RelayError> {
        // A dry run shows the same body every time.
        let boundary = match fetch.dry_run {
            true => "relay-dry-run-boundary".to_owned(),
            false => format!("relay-{:032x}", fastrand::u128(..)),
        };
        let mut pieces = Vec::new();
        for field in &self.fields {
            let Some(value) = body.get(field).filter(|v| !v.is_null()) else { continue };
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let name = quoted(field);
            pieces.push(Bytes::from(format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}\r\n"
            )));
        }
        for part in &self.files {
            let Some(source) = part.source(body)? else { continue };
            let (filename, mime, bytes) = part.load(source, fetch).await?;
            let head = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
                quoted(&part.name),
                quoted(&filename)
            );
            pieces.push(Bytes::from(head));
            pieces.push(bytes);
            pieces.push(Bytes::from_static(b"\r\n"));
        }
        pieces.push(Bytes::from(format!("--{boundary}--\r\n")));
        Ok(Multipart { content_type: format!("multipart/form-data; boundary={boundary}"), pieces })
    }
}

impl JsonToMultipart {
    /// The JSON Schema of the body this transform reads, for the generated
    /// API documents: text fields as strings (any JSON value is accepted),
    /// file references in the shape ChatGPT Actions send
    /// (`openaiFileIdRefs`), URL and base64 fields as strings.
    pub fn request_schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for field in &self.fields {
            properties.insert(field.clone(), serde_json::json!({}));
        }
        let mut refs_fields: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for part in &self.files {
            if let Some(refs) = &part.refs {
                refs_fields.entry(refs).or_default().push(format!("[{}] {}", part.ref_index, part.name));
                if part.required && part.urls.is_empty() && part.base64.is_empty() {
                    required.push(Value::String(refs.clone()));
                }
            }
            for url in &part.urls {
                let description = format!("A https URL of the file for `{}`.", part.name);
                properties.insert(url.clone(), serde_json::json!({"type": "string", "description": description}));
            }
            for base64 in &part.base64 {
                let description = format!("The file for `{}`, base64 or a data: URL.", part.name);
                properties.insert(base64.clone(), serde_json::json!({"type": "string", "description": description}));
            }
        }
        for (field, parts) in refs_fields {
            let description = format!("Files as ChatGPT Actions file references: {}.", parts.join(", "));
            properties.insert(
                field.to_owned(),
                serde_json::json!({
                    "type": "array",
                    "description": description,
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "id": {"type": "string"},
                        "mime_type": {"type": "string"}, "download_link": {"type": "string"}},
                        "required": ["download_link"]}
                }),
            );
        }
        let mut schema = serde_json::json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }
}

/// A name or filename inside a quoted `Content-Disposition` parameter:
/// `"`, CR and LF percent-encoded as RFC 7578 section 2 and the WHATWG
/// form encoding do, and `%` too, so that the encoding can be undone.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nrest";

    #[test]
    fn part_names_are_escaped_as_rfc_7578_says() {
        assert_eq!(quoted("a\"b\r\nc%d.png"), "a%22b%0D%0Ac%25d.png");
        assert_eq!(quoted("plain.png"), "plain.png");
    }

    fn transform(text: &str) -> JsonToMultipart {
        JsonToMultipart::compile(&toml::from_str(text).unwrap()).unwrap()
    }

    fn context() -> FetchContext {
        let tls = crate::upstream::client::tls_config().unwrap();
        FetchContext { tls, address_check: crate::fetch::address::check_public, dry_run: false }
    }

    const SPEC: &str = "fields = [\"prompt\", \"n\"]\n[files.image]\nbase64 = \"image\"\nmagic = \"png\"\nmime = [\"image/png\"]\nmax = \"1KiB\"\nrequired = true";

    #[tokio::test]
    async fn builds_text_and_file_parts_from_shared_pieces() {
        let t = transform(SPEC);
        let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
        let body = json!({"prompt": "a \"cat\"", "n": 2, "image": encoded, "ignored": true});
        let multipart = t.build(&body, &context()).await.unwrap();
        let boundary = multipart.content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let bytes: Vec<u8> = multipart.pieces.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(bytes.len() as u64, multipart.len());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na \"cat\"\r\n"
        )));
        assert!(text.contains("name=\"n\"\r\n\r\n2\r\n"));
        assert!(text.contains("name=\"image\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n"));
        assert!(!text.contains("ignored"));
        assert!(multipart.pieces.iter().any(|p| &p[..] == PNG), "the file is one piece, not copied into another");
    }

    #[tokio::test]
    async fn wrong_magic_and_oversize_name_the_field() {
        let t = transform(SPEC);
        let not_png = base64::engine::general_purpose::STANDARD.encode(b"GIF89a....");
        let err = t.build(&json!({"image": not_png}), &context()).await.unwrap_err();
        assert_eq!((err.status.as_u16(), err.param.as_deref()), (400, Some("image")));
        let big = base64::engine::general_purpose::STANDARD.encode([PNG, &[0u8; 2000]].concat());
        let err = t.build(&json!({"image": big}), &context()).await.unwrap_err();
        assert_eq!(err.code, "file_too_large");
    }

    #[test]
    fn parts_need_a_source_and_schemas_describe_file_refs() {
        let spec: JsonToMultipartSpec = toml::from_str("[files.image]\nmax = \"1KiB\"").unwrap();
        assert!(JsonToMultipart::compile(&spec).unwrap_err().contains("needs a source"));
        let t = transform("[files.image]\nrefs = \"openaiFileIdRefs\"\nrequired = true");
        let schema = t.request_schema();
        assert_eq!(schema["required"], json!(["openaiFileIdRefs"]));
        assert_eq!(schema["properties"]["openaiFileIdRefs"]["type"], "array");
        assert!(Magic::Png.matches(PNG) && !Magic::Jpeg.matches(PNG));
    }

    #[test]
    fn names_are_percent_encoded_per_rfc_7578() {
        assert_eq!(quoted("a\"b\r\nc"), "a%22b%0D%0Ac");
        assert_eq!(quoted("50%.png"), "50%25.png");
        assert_eq!(quoted("plain name-ü.png"), "plain name-ü.png");
    }

    #[tokio::test]
    async fn a_pdf_without_a_declared_type_goes_out_as_application_pdf() {
        let t = transform("[files.file]\nbase64 = \"file\"\nmagic = \"pdf\"");
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7\n%%EOF");
        let multipart = t.build(&json!({"file": encoded}), &context()).await.unwrap();
        let bytes: Vec<u8> = multipart.pieces.iter().flat_map(|p| p.to_vec()).collect();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("filename=\"file.pdf\"\r\nContent-Type: application/pdf\r\n"), "{text}");
    }

    const MASKED: &str = "[files.image]\nrefs = \"refs\"\nbase64 = [\"image_base64\", \"image\"]\nrequired = true\n\
                          [files.mask]\nrefs = \"refs\"\nref_index = 1\nurl = \"mask_url\"\nbase64 = \"mask_base64\"";

    #[tokio::test]
    async fn every_named_field_is_a_source_and_none_is_ignored() {
        let t = transform(MASKED);
        let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
        for field in ["image_base64", "image"] {
            let multipart = t.build(&json!({field: encoded}), &context()).await.unwrap();
            assert!(multipart.pieces.iter().any(|p| &p[..] == PNG), "{field}");
        }
        let refuse = |body: Value| {
            let t = &t;
            async move {
                let err = t.build(&body, &context()).await.unwrap_err();
                (err.param.unwrap_or_default(), err.message)
            }
        };
        let (param, message) = refuse(json!({"image": encoded, "mask_url": 7})).await;
        assert_eq!((param.as_str(), message.as_str()), ("mask_url", "`mask_url` must be a URL string."));
        let (param, message) =
            refuse(json!({"image": encoded, "mask_url": "https://x.test/m", "mask_base64": encoded})).await;
        assert_eq!(param, "mask");
        assert!(message.contains("`mask_url`, `mask_base64`"), "{message}");
        let (param, message) = refuse(json!({"mask_base64": encoded})).await;
        assert_eq!(param, "image");
        assert!(message.contains("`refs[0]`, `image_base64`, `image`"), "{message}");
        let (param, _) = refuse(json!({"refs": {"download_link": "https://x.test/a"}})).await;
        assert_eq!(param, "refs");
        assert!(!t.passes_through(&json!({})), "passthrough is off unless asked for");
    }

    #[tokio::test]
    async fn a_reference_list_without_the_mask_index_has_no_mask() {
        let t = transform(MASKED);
        let refs = json!({"refs": [{"download_link": "http://127.0.0.1:1/a.png"}]});
        let err = t.build(&refs, &context()).await.unwrap_err();
        assert_eq!(err.param.as_deref(), Some("refs[0]"), "the image is fetched (and refused), no mask error");
    }
}
