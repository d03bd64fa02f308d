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
//! url = "image_url"           # or a field holding a URL
//! base64 = "image_base64"     # or a field holding base64 or a data: URL
//! mime = ["image/png"]        # accepted types
//! magic = "png"               # the first bytes must say so
//! max = "4MiB"
//! required = true
//! fetch = { hosts = ["*.oaiusercontent.com"] }   # where links may point
//! ```
//!
//! Each file comes from exactly one source present in the request; two, or
//! none for a required file, is a 400 naming the fields. Links are fetched
//! by [`crate::fetch`] (https, resolved-address checks, size cap, no
//! credentials). Text values that are not strings are sent as JSON. The body
//! is built from shared pieces: a fetched file is never copied into it.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RelayError;
use crate::fetch::{FetchPolicy, HostPattern};

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePartSpec {
    pub refs: Option<String>,
    #[serde(default)]
    pub ref_index: usize,
    pub url: Option<String>,
    pub base64: Option<String>,
    #[serde(default)]
    pub mime: Vec<String>,
    pub magic: Option<Magic>,
    pub max: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub fetch: FetchSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub allow_http: bool,
    pub timeout: Option<String>,
}

/// File signatures a part can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Magic {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
}

impl Magic {
    /// The media type a file with this signature has.
    fn media_type(self) -> &'static str {
        match self {
            Magic::Png => "image/png",
            Magic::Jpeg => "image/jpeg",
            Magic::Gif => "image/gif",
            Magic::Webp => "image/webp",
            Magic::Pdf => "application/pdf",
        }
    }

    fn matches(self, bytes: &[u8]) -> bool {
        sniff(bytes) == Some(self.media_type())
    }
}

/// The media type the file's first bytes say it has (the `infer` crate).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    infer::get(bytes).map(|kind| kind.mime_type())
}

/// The compiled transform.
#[derive(Debug)]
pub struct JsonToMultipart {
    fields: Vec<String>,
    files: Vec<FilePart>,
    passthrough_without_files: bool,
}

#[derive(Debug)]
struct FilePart {
    name: String,
    refs: Option<String>,
    ref_index: usize,
    url: Option<String>,
    base64: Option<String>,
    mime: Vec<String>,
    magic: Option<Magic>,
    policy: FetchPolicy,
    required: bool,
}

/// Where one file comes from in a request.
enum Source<'a> {
    Link { url: &'a str, name: Option<&'a str>, mime: Option<&'a str>, field: String },
    Inline { text: &'a str, field: String },
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
            if part.refs.is_none() && part.url.is_none() && part.base64.is_none() {
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
                url: part.url.clone(),
                base64: part.base64.clone(),
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

    /// Whether this JSON body is sent as it is: the route allows it and the
    /// body names none of the file sources.
    pub fn passes_through(&self, body: &Value) -> bool {
        self.passthrough_without_files
            && self.files.iter().all(|part| {
                [&part.refs, &part.url, &part.base64]
                    .into_iter()
                    .flatten()
                    .all(|field| body.get(field).is_none_or(Value::is_null))
            })
    }

    /// Builds the multipart body from a JSON body, fetching linked files.
    pub async fn build(&self, body: &Value, fetch: &FetchContext) -> Result<Multipart, RelayError> {
        let boundary = format!("relay-{:032x}", fastrand::u128(..));
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
                if part.required && part.url.is_none() && part.base64.is_none() {
                    required.push(Value::String(refs.clone()));
                }
            }
            if let Some(url) = &part.url {
                let description = format!("A https URL of the file for `{}`.", part.name);
                properties.insert(url.clone(), serde_json::json!({"type": "string", "description": description}));
            }
            if let Some(base64) = &part.base64 {
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

impl FilePart {
    /// The one source the request gives for this file, if any.
    fn source<'a>(&self, body: &'a Value) -> Result<Option<Source<'a>>, RelayError> {
        let mut found = Vec::new();
        if let Some(field) = &self.refs
            && let Some(refs) = body.get(field).and_then(Value::as_array).filter(|r| !r.is_empty())
        {
            let item = refs.get(self.ref_index).ok_or_else(|| {
                bad(
                    format!("{field}[{}]", self.ref_index),
                    format!("`{field}` has no file at index {}.", self.ref_index),
                )
            })?;
            let link = item.get("download_link").and_then(Value::as_str).ok_or_else(|| {
                bad(
                    format!("{field}[{}].download_link", self.ref_index),
                    "A file reference needs a `download_link`.".into(),
                )
            })?;
            found.push(Source::Link {
                url: link,
                name: item.get("name").and_then(Value::as_str),
                mime: item.get("mime_type").and_then(Value::as_str),
                field: format!("{field}[{}]", self.ref_index),
            });
        }
        if let Some(field) = &self.url
            && let Some(url) = body.get(field).and_then(Value::as_str)
        {
            found.push(Source::Link { url, name: None, mime: None, field: field.clone() });
        }
        if let Some(field) = &self.base64
            && let Some(text) = body.get(field).and_then(Value::as_str)
        {
            found.push(Source::Inline { text, field: field.clone() });
        }
        let names =
            [&self.refs, &self.url, &self.base64].into_iter().flatten().cloned().collect::<Vec<_>>().join("`, `");
        match found.len() {
            0 if self.required => {
                Err(bad(self.name.clone(), format!("The file `{}` is missing: send one of `{names}`.", self.name)))
            }
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(bad(self.name.clone(), format!("Send the file `{}` once, in only one of `{names}`.", self.name))),
        }
    }

    /// Fetches or decodes the file and checks it: (filename, type, bytes).
    async fn load(&self, source: Source<'_>, fetch: &FetchContext) -> Result<(String, String, Bytes), RelayError> {
        let (field, name, declared, bytes) = match source {
            Source::Link { url, name, mime, .. } if fetch.dry_run => {
                let placeholder = Bytes::from(format!("<the file at {url}, fetched when served>"));
                let declared = mime.map(str::to_owned).or_else(|| self.mime.first().cloned());
                let filename = name.map_or_else(
                    || format!("{}{}", self.name, extension(declared.as_deref().unwrap_or_default())),
                    str::to_owned,
                );
                return Ok((filename, declared.unwrap_or_else(|| "application/octet-stream".to_owned()), placeholder));
            }
            Source::Link { url, name, mime, field } => {
                let fetcher = crate::fetch::Fetcher::new(self.policy.clone(), fetch.tls.clone())
                    .with_address_check(fetch.address_check);
                let file = fetcher.fetch(url).await.map_err(|e| {
                    tracing::info!(part = self.name, "file fetch refused or failed: {e}");
                    e.to_relay_error(&field)
                })?;
                let declared = mime.map(str::to_owned).or(Some(file.content_type));
                (field, name.map(str::to_owned), declared, file.bytes)
            }
            Source::Inline { text, field } => {
                let (declared, data) = match text.strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
                    Some((meta, data)) => (meta.strip_suffix(";base64").map(str::to_owned), data),
                    None => (None, text),
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|_| bad(field.clone(), format!("`{field}` is not valid base64.")))?;
                (field, None, declared, Bytes::from(decoded))
            }
        };
        if bytes.len() as u64 > self.policy.max_bytes {
            let max = bytesize::ByteSize(self.policy.max_bytes);
            let message = format!("The file in `{field}` is larger than {max}.");
            return Err(RelayError::bad_request("file_too_large", message).with_param(field.clone()));
        }
        if let Some(magic) = self.magic
            && !magic.matches(&bytes)
        {
            return Err(bad(field.clone(), format!("The file in `{field}` is not a {magic:?} file.")));
        }
        let sniffed = sniff(&bytes).map(str::to_owned);
        let mime = declared
            .map(|m| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty() && m != "application/octet-stream")
            .or(sniffed)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        if !self.mime.is_empty() && !self.mime.contains(&mime) {
            return Err(bad(
                field.clone(),
                format!("The file in `{field}` is {mime}; accepted: {}.", self.mime.join(", ")),
            ));
        }
        let filename = name.unwrap_or_else(|| format!("{}{}", self.name, extension(&mime)));
        Ok((filename, mime, bytes))
    }
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/webp" => ".webp",
        "image/gif" => ".gif",
        "application/pdf" => ".pdf",
        _ => "",
    }
}

fn bad(param: String, message: String) -> RelayError {
    RelayError::bad_request("invalid_file", message).with_param(param)
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
    use serde_json::json;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nrest";

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

    #[test]
    fn sniffed_types_are_the_real_media_types() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert!(Magic::Pdf.matches(b"%PDF-1.4") && !Magic::Pdf.matches(PNG));
        assert_eq!(Magic::Pdf.media_type(), "application/pdf");
        assert_eq!(sniff(b"plain text"), None);
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
}
