//! A raw HTTP/1.1 client on a TCP socket, for requests that ordinary clients
//! refuse to send or would change (hop-by-hop headers, dot segments, odd
//! framing), and for watching the bytes of a streamed response as they come.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for any single read.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names lowercase, in order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A connection and the bytes read from it but not yet consumed.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        Conn { stream: TcpStream::connect(addr).await.unwrap(), buf: Vec::new() }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no data for {READ_TIMEOUT:?}; have {:?}", String::from_utf8_lossy(&self.buf)));
        match read {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads until `needle` has arrived; returns everything up to and
    /// including it. Panics at end of stream.
    pub async fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return self.buf.drain(..at + needle.len()).collect();
            }
            assert!(self.fill().await, "connection closed before {:?}", String::from_utf8_lossy(needle));
        }
    }

    /// Reads one response head (status and headers), interim 1xx included.
    pub async fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let head = self.read_until(b"\r\n\r\n").await;
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("bad status line {status_line:?}");
        });
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers)
    }

    /// Reads one complete final response (skipping 1xx).
    pub async fn read_response(&mut self) -> Response {
        let (status, headers) = loop {
            let (status, headers) = self.read_head().await;
            if status >= 200 {
                break (status, headers);
            }
        };
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let body = if let Some(length) = get("content-length") {
            let length: usize = length.parse().unwrap();
            while self.buf.len() < length {
                assert!(self.fill().await, "connection closed inside a {length}-byte body");
            }
            self.buf.drain(..length).collect()
        } else if get("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            self.read_chunked().await
        } else {
            while self.fill().await {}
            std::mem::take(&mut self.buf)
        };
        Response { status, headers, body }
    }

    async fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.read_until(b"\r\n").await;
            let size =
                String::from_utf8_lossy(&line[..line.len() - 2]).split(';').next().unwrap_or("").trim().to_owned();
            let size = usize::from_str_radix(&size, 16).unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
            if size == 0 {
                self.read_until(b"\r\n").await;
                return body;
            }
            while self.buf.len() < size + 2 {
                assert!(self.fill().await, "connection closed inside a chunk");
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Everything until the peer closes the connection.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Whether the peer closes the connection within `wait` (reads and
    /// discards anything it still sends).
    pub async fn closes_within(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// Sends `request` (head and body, as bytes) on a new connection and reads
/// one response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut conn = Conn::open(addr).await;
    conn.write(request).await;
    conn.read_response().await
}

/// `GET target` with `headers` (each `Name: value`), on a new connection.
pub async fn get(addr: SocketAddr, target: &str, headers: &[&str]) -> Response {
    exchange(addr, head("GET", target, headers).as_bytes()).await
}

/// A request head ending in the blank line; adds `Host`.
pub fn head(method: &str, target: &str, headers: &[&str]) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: relay.test\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}
