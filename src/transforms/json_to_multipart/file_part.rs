//! One file part of a `json_to_multipart` upload: which request field it
//! comes from, and how it is fetched or decoded and checked.
//!
//! A field the request gives for the file is never ignored: a value of the
//! wrong type, a second source, or a reference without a link is a 400
//! naming the field.

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::FetchContext;
use crate::error::RelayError;
use crate::fetch::FetchPolicy;

/// File signatures a part can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Magic {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
}

impl Magic {
    const ALL: [Magic; 5] = [Magic::Png, Magic::Jpeg, Magic::Gif, Magic::Webp, Magic::Pdf];

    /// The type the first bytes say (the `infer` crate), if it is one of these.
    fn sniff(bytes: &[u8]) -> Option<Magic> {
        let sniffed = infer::get(bytes)?.mime_type();
        Magic::ALL.into_iter().find(|magic| magic.mime() == sniffed)
    }

    fn mime(self) -> &'static str {
        match self {
            Magic::Png => "image/png",
            Magic::Jpeg => "image/jpeg",
            Magic::Gif => "image/gif",
            Magic::Webp => "image/webp",
            Magic::Pdf => "application/pdf",
        }
    }

    pub(super) fn matches(self, bytes: &[u8]) -> bool {
        Magic::sniff(bytes) == Some(self)
    }
}

/// A compiled file part.
#[derive(Debug)]
pub(super) struct FilePart {
    pub name: String,
    pub refs: Option<String>,
    pub ref_index: usize,
    /// Fields that may hold a link to the file.
    pub urls: Vec<String>,
    /// Fields that may hold the file as base64 or a data: URL.
    pub base64: Vec<String>,
    pub mime: Vec<String>,
    pub magic: Option<Magic>,
    pub policy: FetchPolicy,
    pub required: bool,
}

/// Where one file comes from in a request.
pub(super) enum Source<'a> {
    Link { url: &'a str, name: Option<&'a str>, mime: Option<&'a str>, field: String },
    Inline { text: &'a str, field: String },
}

impl FilePart {
    /// Every request field this part reads.
    pub fn fields(&self) -> impl Iterator<Item = &String> {
        self.refs.iter().chain(&self.urls).chain(&self.base64)
    }

    /// The one source the request gives for this file, if any.
    pub fn source<'a>(&self, body: &'a Value) -> Result<Option<Source<'a>>, RelayError> {
        let given = |field: &str| body.get(field).filter(|v| !v.is_null());
        let mut found = Vec::new();
        if let Some(field) = &self.refs
            && let Some(refs) = given(field)
        {
            let refs = refs
                .as_array()
                .ok_or_else(|| bad(field.clone(), format!("`{field}` must be a list of file references.")))?;
            let at = format!("{field}[{}]", self.ref_index);
            if let Some(item) = refs.get(self.ref_index) {
                let link = item.get("download_link").and_then(Value::as_str).ok_or_else(|| {
                    bad(format!("{at}.download_link"), "A file reference needs a `download_link`.".into())
                })?;
                let name = item.get("name").and_then(Value::as_str);
                found.push(Source::Link {
                    url: link,
                    name,
                    mime: item.get("mime_type").and_then(Value::as_str),
                    field: at,
                });
            }
        }
        for field in &self.urls {
            if let Some(value) = given(field) {
                let url =
                    value.as_str().ok_or_else(|| bad(field.clone(), format!("`{field}` must be a URL string.")))?;
                found.push(Source::Link { url, name: None, mime: None, field: field.clone() });
            }
        }
        for field in &self.base64 {
            if let Some(value) = given(field) {
                let text = value
                    .as_str()
                    .ok_or_else(|| bad(field.clone(), format!("`{field}` must be a base64 string or a data: URL.")))?;
                found.push(Source::Inline { text, field: field.clone() });
            }
        }
        match found.len() {
            0 if self.required => Err(bad(
                self.name.clone(),
                format!("The file `{}` is missing: send one of {}.", self.name, self.source_names()),
            )),
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => {
                let names: Vec<String> = found.iter().map(|s| format!("`{}`", s.field())).collect();
                let message = format!("Send the file `{}` once: {} were all given.", self.name, names.join(", "));
                Err(bad(self.name.clone(), message))
            }
        }
    }

    /// The sources as a client writes them: `openaiFileIdRefs[1]`, `mask_url`, ...
    fn source_names(&self) -> String {
        let refs = self.refs.iter().map(|field| format!("`{field}[{}]`", self.ref_index));
        let others = self.urls.iter().chain(&self.base64).map(|field| format!("`{field}`"));
        refs.chain(others).collect::<Vec<_>>().join(", ")
    }

    /// Fetches or decodes the file and checks it: (filename, type, bytes).
    pub async fn load(&self, source: Source<'_>, fetch: &FetchContext) -> Result<(String, String, Bytes), RelayError> {
        let (field, name, declared, bytes) = match source {
            // A dry run fetches nothing: the link is checked as far as it
            // can be offline, and the part names it instead.
            Source::Link { url, name, mime, field } if fetch.dry_run => {
                let fetcher = crate::fetch::Fetcher::new(self.policy.clone(), fetch.tls.clone())
                    .with_address_check(fetch.address_check);
                fetcher.check_offline(url).map_err(|e| e.to_relay_error(&field))?;
                let placeholder = Bytes::from(format!("<the file at {url}, fetched when served>"));
                let declared = mime.map(str::to_owned).or_else(|| self.mime.first().cloned());
                let mime = declared.unwrap_or_else(|| "application/octet-stream".to_owned());
                let filename = name.map_or_else(|| format!("{}{}", self.name, extension(&mime)), str::to_owned);
                return Ok((filename, mime, placeholder));
            }
            Source::Link { url, name, mime, field } => {
                let fetcher = crate::fetch::Fetcher::new(self.policy.clone(), fetch.tls.clone())
                    .with_address_check(fetch.address_check);
                let file = fetcher.fetch(url).await.map_err(|e| {
                    tracing::info!(part = self.name, "file fetch refused or failed: {e}");
                    metrics::counter!(crate::telemetry::metrics::FETCH_REFUSALS, "reason" => e.to_relay_error("").code)
                        .increment(1);
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
        // The declared type, else what the bytes say (base64 declares none).
        let sniffed = Magic::sniff(&bytes).map(|magic| magic.mime().to_owned());
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

impl Source<'_> {
    fn field(&self) -> &str {
        match self {
            Source::Link { field, .. } | Source::Inline { field, .. } => field,
        }
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

pub(super) fn bad(param: String, message: String) -> RelayError {
    RelayError::bad_request("invalid_file", message).with_param(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffed_types_are_the_real_media_types() {
        assert_eq!(Magic::sniff(b"%PDF-1.7\n..."), Some(Magic::Pdf));
        assert_eq!(Magic::sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Magic::Png));
        assert_eq!(Magic::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Magic::Webp));
        assert!(Magic::Pdf.matches(b"%PDF-1.4") && !Magic::Pdf.matches(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(Magic::Pdf.mime(), "application/pdf");
        assert_eq!(Magic::sniff(b"plain text"), None);
    }
}
