//! The `model` field of a multipart form, found by reading the form only
//! as far as that field. SDKs send plain fields before files, so usually a
//! few hundred bytes are read ahead; a form that puts its file first is read
//! up to the field, within the route's size limit. What was read is sent
//! on unchanged ([`super::client_body::ClientBody::ReadAhead`]).

/// What the bytes read so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    Found(String),
    /// The form ended without a `model` field.
    Absent,
    NeedMore,
}

/// Looks for the `model` part in the start of a form with `boundary`.
pub fn scan(form: &[u8], boundary: &str) -> Scan {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let Some(mut at) = find(form, delimiter, 0) else { return Scan::NeedMore };
    loop {
        let part = at + delimiter.len();
        match form.get(part..part + 2) {
            None => return Scan::NeedMore,
            Some(b"--") => return Scan::Absent,
            Some(_) => {}
        }
        let Some(head_end) = find(form, b"\r\n\r\n", part) else { return Scan::NeedMore };
        let body = head_end + 4;
        let Some(next) = find(form, delimiter, body) else { return Scan::NeedMore };
        if names_model(&form[part..head_end]) {
            // The value ends at the CRLF before the next delimiter.
            let value = form[body..next].strip_suffix(b"\r\n").unwrap_or(&form[body..next]);
            return Scan::Found(String::from_utf8_lossy(value).trim().to_owned());
        }
        at = next;
    }
}

/// Whether a part's headers name it `model` (and not as a file name).
fn names_model(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.lines().filter(|line| line.trim_start().starts_with("content-disposition:")).any(|line| {
        line.match_indices("name=\"model\"")
            .any(|(at, _)| matches!(line.as_bytes().get(at.wrapping_sub(1)), Some(b' ' | b';')))
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|at| at + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model\"\r\nContent-Type: audio/mpeg\r\n\r\nID3...\r\n--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--xyz--\r\n";

    #[test]
    fn finds_the_model_after_other_parts() {
        assert_eq!(scan(FORM.as_bytes(), "xyz"), Scan::Found("whisper-1".into()));
        let cut = FORM.find("whisper").unwrap();
        assert_eq!(scan(&FORM.as_bytes()[..cut + 3], "xyz"), Scan::NeedMore);
        assert_eq!(
            scan(b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xyz--\r\n", "xyz"),
            Scan::Absent
        );
        assert_eq!(scan(b"--xy", "xyz"), Scan::NeedMore);
    }
}
