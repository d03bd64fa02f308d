//! A request body the relay answered without reading to its end is held
//! until the answer is sent ([`hold_until_sent`]), so the connection is
//! closed: actix would otherwise drain a dropped chunked body, with no
//! timer at all.

use std::task::Poll;

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody, SizedStream};
use futures_util::StreamExt;

use crate::stages::client_body::ClientBody;

/// Makes `response` keep `body` alive until it has been sent. actix closes
/// the connection after answering a request whose body is unread and still
/// alive; a dropped chunked body it drains instead, with no timer, so a
/// client that stopped sending would keep the connection forever.
pub fn hold_until_sent(response: HttpResponse, body: ClientBody) -> HttpResponse {
    let (response, answer) = response.into_parts();
    match answer.try_into_bytes() {
        Ok(bytes) => {
            let length = bytes.len() as u64;
            let end = futures_util::stream::poll_fn(move |_| {
                let _held = &body;
                Poll::Ready(None)
            });
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) }).chain(end);
            response.set_body(BoxBody::new(SizedStream::new(length, stream)))
        }
        Err(answer) => response.set_body(answer),
    }
}
