//! Opening the upstream WebSocket: TCP (and TLS for `https` upstreams) within
//! the upstream's `connect_timeout`, then the handshake within the route's
//! `timeout`. The handshake request carries the headers the route's policy
//! lets through (the server key among them), the client's query string and
//! the subprotocols the client offered, minus any relay key.
//!
//! An upstream that answers the handshake with anything but 101 is
//! [`Failure::Refused`]; [`refused`] passes its status, headers and the body
//! bytes that came with its head to the client. Unreachable is 502, too slow
//! 504.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::{Response, generate_key};
use tokio_tungstenite::tungstenite::http::{self, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::RelayError;
use crate::table::Route;

/// A byte stream to the upstream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

pub type UpstreamSocket = WebSocketStream<Box<dyn Io>>;

/// Bytes read from the upstream at a time; small, so idle sessions stay small.
const READ_BUFFER: usize = 16 * 1024;

/// Why there is no upstream session.
#[derive(Debug)]
pub enum Failure {
    /// The upstream answered the handshake with this (non-101) response.
    Refused(Box<http::Response<Option<Vec<u8>>>>),
    Relay(RelayError),
}

/// What the handshake needs.
pub struct Handshake<'a> {
    pub route: &'a Route,
    /// `http(s)://host/path?query`, as resolved for the route.
    pub url: &'a str,
    /// Headers by the route's policy, without any `Sec-WebSocket-*`.
    pub headers: &'a HeaderMap,
    /// Subprotocols to offer upstream, in the client's order.
    pub protocols: &'a [String],
    pub tls: Arc<rustls::ClientConfig>,
}

/// Connects and completes the handshake.
pub async fn connect(h: Handshake<'_>) -> Result<(UpstreamSocket, Response), Failure> {
    let name = h.route.upstream.name.as_str();
    let (uri, secure) = ws_uri(h.url).ok_or_else(|| bad_gateway(name, "its URL is not http(s)"))?;
    let request = request(&uri, h.headers, h.protocols).map_err(|e| bad_gateway(name, &e.to_string()))?;
    let io = tokio::time::timeout(h.route.upstream.connect_timeout, open(&uri, secure, h.tls))
        .await
        .map_err(|_| {
            Failure::Relay(RelayError::gateway_timeout(format!("Connecting to upstream `{name}` timed out.")))
        })?
        .map_err(|e| Failure::Relay(RelayError::bad_gateway(format!("Cannot connect to upstream `{name}`: {e}."))))?;
    let max = match h.route.protocol {
        crate::table::Protocol::WebSocket(limits) => limits.max_message,
        crate::table::Protocol::Http => usize::MAX,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let handshake = tokio_tungstenite::client_async_with_config(request, io, Some(config));
    match tokio::time::timeout(h.route.timeout, handshake).await {
        Err(_) => Err(Failure::Relay(timed_out(name, h.route.timeout))),
        Ok(Ok(done)) => Ok(done),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(Failure::Refused(response)),
        Ok(Err(error)) => Err(bad_gateway(name, &format!("the WebSocket handshake failed: {error}"))),
    }
}

/// `ws://` for `http://`, `wss://` for `https://`; and whether it is TLS.
fn ws_uri(url: &str) -> Option<(Uri, bool)> {
    let (scheme, rest, secure) = match url.strip_prefix("https://") {
        Some(rest) => ("wss://", rest, true),
        None => ("ws://", url.strip_prefix("http://")?, false),
    };
    let uri: Uri = format!("{scheme}{rest}").parse().ok()?;
    uri.host()?;
    Some((uri, secure))
}

fn request(uri: &Uri, headers: &HeaderMap, protocols: &[String]) -> Result<http::Request<()>, http::Error> {
    let mut builder = http::Request::builder().method(http::Method::GET).uri(uri.clone());
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let authority = uri.authority().map_or("", |a| a.as_str());
    builder = builder
        .header("Host", authority)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key());
    if !protocols.is_empty() {
        builder = builder.header("Sec-WebSocket-Protocol", protocols.join(", "));
    }
    builder.body(())
}

async fn open(uri: &Uri, secure: bool, tls: Arc<rustls::ClientConfig>) -> std::io::Result<Box<dyn Io>> {
    let host = uri.host().unwrap_or_default();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = crate::upstream::connect::tcp(host, port, None, None).await?;
    if !secure {
        return Ok(Box::new(tcp));
    }
    let server = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
    let stream = tokio_rustls::TlsConnector::from(tls).connect(server, tcp).await?;
    Ok(Box::new(stream))
}

fn bad_gateway(upstream: &str, detail: &str) -> Failure {
    Failure::Relay(RelayError::bad_gateway(format!("Upstream `{upstream}` failed: {detail}.")))
}

fn timed_out(upstream: &str, timeout: Duration) -> RelayError {
    RelayError::gateway_timeout(format!(
        "Upstream `{upstream}` did not answer the WebSocket handshake within {}.",
        humantime::format_duration(timeout)
    ))
}

/// The upstream's refusal of the handshake, passed to the client: its
/// status, the headers the route lets back, and the body bytes that came
/// with its head (up to its `Content-Length`).
pub fn refused(route: &Route, refusal: http::Response<Option<Vec<u8>>>) -> HttpResponse {
    let status = StatusCode::from_u16(refusal.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let upstream_headers = actix_headers(refusal.headers());
    let length = upstream_headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let mut body = refusal.into_body().unwrap_or_default();
    body.truncate(length.unwrap_or(body.len()));
    let mut response = HttpResponse::build(status);
    let mut passed = HeaderMap::new();
    crate::stages::headers::client_headers(&upstream_headers, route, &mut passed);
    for (name, value) in passed {
        response.append_header((name, value));
    }
    response.body(body)
}

/// `http` 1.x headers (tungstenite's) as actix headers.
pub fn actix_headers(from: &http::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in from {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            out.append(name, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_become_ws_urls() {
        let (uri, secure) = ws_uri("https://api.openai.com/v1/realtime?model=m").unwrap();
        assert_eq!((uri.to_string().as_str(), secure), ("wss://api.openai.com/v1/realtime?model=m", true));
        let (uri, secure) = ws_uri("http://[::1]:8080/v1/responses").unwrap();
        assert_eq!((uri.host(), uri.port_u16(), secure), (Some("[::1]"), Some(8080), false));
        assert!(ws_uri("ftp://example.com/").is_none());
    }

    #[test]
    fn the_request_has_the_handshake_headers_and_protocols() {
        let (uri, _) = ws_uri("http://up.test:81/v1/realtime?model=m").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(actix_web::http::header::AUTHORIZATION, "Bearer sk".parse().unwrap());
        let request = request(&uri, &headers, &["realtime".into(), "openai-beta.realtime-v1".into()]).unwrap();
        let get = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(get("host"), Some("up.test:81"));
        assert_eq!(get("authorization"), Some("Bearer sk"));
        assert_eq!(get("sec-websocket-protocol"), Some("realtime, openai-beta.realtime-v1"));
        assert_eq!(request.uri().path_and_query().map(|p| p.as_str()), Some("/v1/realtime?model=m"));
    }
}
