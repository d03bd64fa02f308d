//! One GET to the file host, and the body read under the size cap.
//!
//! A `Content-Length` above the cap is refused before any body byte is
//! read; a body without one is cut off at the chunk that crosses the cap.
//! Dropping the response then closes the connection.
//!
//! The request carries Host, `User-Agent: relay` and `Accept: */*`, plus the
//! `Date` that actix-http's HTTP/1.1 encoder always writes. `no_decompress`
//! keeps awc from adding `Accept-Encoding`, and an absent body (not an empty
//! one) from adding `Content-Length: 0`.

use actix_web::HttpMessage;
use awc::Client;
use awc::error::{ConnectError, SendRequestError};
use awc::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT};
use awc::http::{StatusCode, Uri};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::FetchedFile;
use super::error::FetchError;

/// What one hop ended with.
pub(crate) enum Hop {
    File(FetchedFile),
    /// A redirect status with this `Location`.
    Redirect(String),
}

/// The first allocation for a body of unknown length.
const INITIAL_CAPACITY: u64 = 64 * 1024;

pub(crate) async fn get(client: &Client, uri: &Uri, max_bytes: u64) -> Result<Hop, FetchError> {
    let mut response = client
        .get(uri.clone())
        .insert_header((USER_AGENT, "relay"))
        .insert_header((ACCEPT, "*/*"))
        .no_decompress()
        .send_body(awc::body::None::new())
        .await
        .map_err(send_error)?;
    let status = response.status();
    if is_redirect(status) {
        if let Some(location) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
            return Ok(Hop::Redirect(location.to_owned()));
        }
    }
    if !status.is_success() {
        return Err(FetchError::Status { status: status.as_u16() });
    }
    let headers = response.headers();
    let length = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > max_bytes) {
        return Err(FetchError::TooLarge { limit: max_bytes });
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let capacity = length.unwrap_or(INITIAL_CAPACITY).min(max_bytes);
    let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let payload = response.take_payload();
    let mut payload = crate::upstream::eof::EndChecked::new(payload, response.headers());
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| FetchError::Transfer { detail: e.to_string() })?;
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(FetchError::TooLarge { limit: max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Hop::File(FetchedFile { content_type, bytes: body.freeze() }))
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn send_error(e: SendRequestError) -> FetchError {
    match e {
        SendRequestError::Connect(ConnectError::Timeout) | SendRequestError::Timeout => FetchError::Timeout,
        SendRequestError::Connect(e) => FetchError::Connect { detail: e.to_string() },
        e => FetchError::Transfer { detail: e.to_string() },
    }
}
