//! Random identifiers the relay makes for every request that comes without
//! one: request ids and W3C trace contexts. Written into fixed buffers (no
//! formatting machinery), since they are on every request's path.

use actix_web::http::header::HeaderValue;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `value` as lowercase hex, filling `out` (leading zeros kept).
fn hex(out: &mut [u8], mut value: u128) {
    for byte in out.iter_mut().rev() {
        *byte = HEX[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// `relay-` and 32 random hex digits.
pub fn request_id() -> String {
    let mut id = *b"relay-00000000000000000000000000000000";
    hex(&mut id[6..], fastrand::u128(..));
    id.iter().map(|&b| char::from(b)).collect()
}

/// A new sampled trace: `00-<trace id>-<span id>-01`, both ids not zero.
pub fn traceparent() -> HeaderValue {
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex(&mut value[3..35], fastrand::u128(1..));
    hex(&mut value[36..52], u128::from(fastrand::u64(1..)));
    HeaderValue::from_bytes(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("00-00000000000000000000000000000001-0000000000000001-01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_their_shape() {
        let id = request_id();
        assert!(id.starts_with("relay-") && id.len() == 38 && id[6..].bytes().all(|b| HEX.contains(&b)), "{id}");
        let trace = traceparent();
        let parts: Vec<&str> = trace.to_str().unwrap().split('-').collect();
        assert_eq!((parts[0], parts[1].len(), parts[2].len(), parts[3]), ("00", 32, 16, "01"));
        let mut out = [0u8; 4];
        hex(&mut out, 0xab);
        assert_eq!(&out, b"00ab");
    }
}
