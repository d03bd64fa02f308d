//! Splitting `multipart/form-data` uploads (files, transcriptions). There is
//! no multipart crate here, so [`parse_multipart`] splits the body itself:
//! enough for what the SDKs send, not a general parser.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, web};
use bytes::Bytes;

use super::{ApiError, read_body};

/// Reads a whole `multipart/form-data` body of at most `limit` bytes.
pub async fn read_form(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Vec<Part>, ApiError> {
    let boundary = boundary(req)?;
    let body = read_body(payload, limit).await?;
    parse_multipart(&body, &boundary)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "The multipart body could not be parsed."))
}

/// The `file` part, which must have a filename.
pub fn file_part(parts: &[Part]) -> Result<&Part, ApiError> {
    parts
        .iter()
        .find(|part| part.name == "file" && part.filename.is_some())
        .ok_or_else(|| ApiError::bad_param("file", "A 'file' part with a filename is required."))
}

/// The boundary of a `multipart/form-data` request, or a 400.
fn boundary(req: &HttpRequest) -> Result<String, ApiError> {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    content_type
        .split(';')
        .find_map(|param| param.trim().strip_prefix("boundary="))
        .map(|boundary| boundary.trim_matches('"').to_owned())
        .filter(|_| content_type.starts_with("multipart/form-data"))
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "Uploads must be multipart/form-data with a boundary."))
}

/// The text of the field `name`, if the form has it.
pub fn field<'a>(parts: &'a [Part], name: &str) -> Option<&'a str> {
    parts.iter().find(|part| part.name == name).and_then(|part| std::str::from_utf8(&part.data).ok())
}

/// One part of a multipart body: its field name, filename and bytes.
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Bytes,
}

/// Splits a `multipart/form-data` body (RFC 7578):
///
/// ```text
/// --BOUNDARY\r\n
/// Content-Disposition: form-data; name="file"; filename="a.jsonl"\r\n
/// Content-Type: application/octet-stream\r\n
/// \r\n
/// ...bytes...\r\n
/// --BOUNDARY--\r\n
/// ```
///
/// The parts' bytes are slices of `body`, not copies. `None` if malformed.
pub fn parse_multipart(body: &Bytes, boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    let mut at = find_bytes(body, delimiter.as_bytes(), 0)? + delimiter.len();
    loop {
        let rest = body.get(at..)?;
        if rest.starts_with(b"--") {
            return Some(parts); // the closing delimiter
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        let head_start = at + 2;
        let head_end = find_bytes(body, b"\r\n\r\n", head_start)?;
        let head = std::str::from_utf8(body.get(head_start..head_end)?).ok()?;
        let data_start = head_end + 4;
        let data_end = find_bytes(body, next_delimiter.as_bytes(), data_start)?;
        parts.push(Part {
            name: disposition_param(head, "name")?,
            filename: disposition_param(head, "filename"),
            data: body.slice(data_start..data_end),
        });
        at = data_end + next_delimiter.len();
    }
}

/// A parameter of the part's `Content-Disposition` header, quotes removed.
/// (Minimal: a `;` inside a quoted filename is not supported.)
fn disposition_param(head: &str, key: &str) -> Option<String> {
    let line = head.lines().find(|line| line.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').skip(1).find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        name.eq_ignore_ascii_case(key).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Where `needle` first occurs in `haystack` at or after `from`.
fn find_bytes(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|window| window == needle).map(|i| i + from)
}
