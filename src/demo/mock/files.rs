//! The Files API, kept in memory: upload, list, get, download, delete.
//!
//! Uploads are `multipart/form-data` with a `file` part and a `purpose`
//! field ([`super::multipart`]).

use std::sync::{MutexGuard, PoisonError};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use bytes::Bytes;
use serde_json::{Value, json};

use super::multipart::{field, file_part, read_form};
use super::{ApiError, State, now};

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
    let parts = read_form(&req, payload, MAX_UPLOAD).await?;
    let file = file_part(&parts)?;
    let purpose =
        field(&parts, "purpose").ok_or_else(|| ApiError::bad_param("purpose", "A 'purpose' field is required."))?;

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
