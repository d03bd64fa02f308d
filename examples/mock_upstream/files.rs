//! The Files API, kept in memory: upload, list, get, download, delete.
//!
//! Uploads are `multipart/form-data` with a `file` part and a `purpose`
//! field. There is no multipart crate here, so [`parse_multipart`] splits the
//! body itself: enough for what the SDKs send, not a general parser.

use std::sync::{MutexGuard, PoisonError};

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::{ApiError, State, now, read_body};

/// Largest upload accepted, and most bytes kept for all files together:
/// memory stays modest however long the mock runs.
const MAX_UPLOAD: usize = 32 * 1024 * 1024;
const MAX_STORED: usize = 64 * 1024 * 1024;

/// The uploaded files, oldest first.
#[derive(Default)]
pub struct Store {
    files: Vec<StoredFile>,
}

struct StoredFile {
    /// The file object the API returns, e.g. `{"id": "file-...", "object": "file", ...}`.
    object: Value,
    id: String,
    content: Bytes,
}

#[post("/files")]
pub async fn upload_file(
    req: HttpRequest,
    state: web::Data<State>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = content_type
        .split(';')
        .find_map(|param| param.trim().strip_prefix("boundary="))
        .map(|boundary| boundary.trim_matches('"').to_owned())
        .filter(|_| content_type.starts_with("multipart/form-data"))
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "Uploads must be multipart/form-data with a boundary.")
        })?;
    let body = read_body(payload, MAX_UPLOAD).await?;
    let parts = parse_multipart(&body, &boundary)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "The multipart body could not be parsed."))?;
    let file = parts
        .iter()
        .find(|part| part.name == "file" && part.filename.is_some())
        .ok_or_else(|| ApiError::bad_param("file", "A 'file' part with a filename is required."))?;
    let purpose = parts
        .iter()
        .find(|part| part.name == "purpose")
        .and_then(|part| std::str::from_utf8(&part.data).ok())
        .ok_or_else(|| ApiError::bad_param("purpose", "A 'purpose' field is required."))?;

    let mut store = lock(&state);
    let stored: usize = store.files.iter().map(|f| f.content.len()).sum();
    if stored + file.data.len() > MAX_STORED {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("The mock keeps at most {MAX_STORED} bytes of files; delete some first."),
        ));
    }
    let id = state.new_id("file-");
    let object = json!({
        "id": id,
        "object": "file",
        "bytes": file.data.len(),
        "created_at": now(),
        "expires_at": null,
        "filename": file.filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": null,
    });
    // Copied so the rest of the request body is freed.
    let content = Bytes::copy_from_slice(&file.data);
    store.files.push(StoredFile { object: object.clone(), id, content });
    Ok(HttpResponse::Ok().json(object))
}

/// Newest first, as the API lists them; `?purpose=` filters.
#[get("/files")]
pub async fn list_files(state: web::Data<State>, query: web::Query<Vec<(String, String)>>) -> HttpResponse {
    let purpose = query.iter().find(|(key, _)| key == "purpose").map(|(_, value)| value.as_str());
    let store = lock(&state);
    let data: Vec<&Value> = store
        .files
        .iter()
        .rev()
        .filter(|f| purpose.is_none_or(|purpose| f.object["purpose"] == purpose))
        .map(|f| &f.object)
        .collect();
    let (first, last) = (data.first().map(|f| &f["id"]), data.last().map(|f| &f["id"]));
    HttpResponse::Ok()
        .json(json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false}))
}

#[get("/files/{file_id}")]
pub async fn get_file(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let store = lock(&state);
    let file = find(&store, &id)?;
    Ok(HttpResponse::Ok().json(&file.object))
}

/// The bytes as uploaded, as `application/octet-stream`.
#[get("/files/{file_id}/content")]
pub async fn file_content(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let store = lock(&state);
    let file = find(&store, &id)?;
    Ok(HttpResponse::Ok().content_type("application/octet-stream").body(file.content.clone()))
}

#[delete("/files/{file_id}")]
pub async fn delete_file(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let mut store = lock(&state);
    find(&store, &id)?;
    store.files.retain(|f| f.id != *id);
    Ok(HttpResponse::Ok().json(json!({"id": *id, "object": "file", "deleted": true})))
}

fn lock(state: &State) -> MutexGuard<'_, Store> {
    // A panic elsewhere cannot leave the list half-changed: keep serving it.
    state.files.lock().unwrap_or_else(PoisonError::into_inner)
}

fn find<'a>(store: &'a Store, id: &str) -> Result<&'a StoredFile, ApiError> {
    store.files.iter().find(|f| f.id == id).ok_or_else(|| ApiError {
        param: Some("id"),
        ..ApiError::new(StatusCode::NOT_FOUND, format!("No such File object: {id}"))
    })
}

/// One part of a multipart body: its field name, filename and bytes.
struct Part {
    name: String,
    filename: Option<String>,
    data: Bytes,
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
fn parse_multipart(body: &Bytes, boundary: &str) -> Option<Vec<Part>> {
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
