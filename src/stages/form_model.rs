//! The `model` field of a multipart form, found by reading the form only
//! as far as that field. SDKs send plain fields before files, so usually a
//! few hundred bytes are read ahead; a form that puts its file first is read
//! up to the field, within the route's size limit. What was read is sent
//! on unchanged ([`super::client_body::ClientBody::ReadAhead`]).

use memchr::memmem;

/// What the bytes read so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    Found(String),
    /// The form ended without a `model` field.
    Absent,
    NeedMore,
    /// A part's head runs past [`MAX_PART_HEAD`] bytes.
    Malformed,
}

/// The longest head of a part (its `Content-Disposition` and type lines)
/// searched for its end.
pub const MAX_PART_HEAD: usize = 16 * 1024;

/// Looks for the `model` part of a form with a boundary, in the bytes
/// read so far; called again as more arrive, it goes on where it stopped,
/// so a long form is searched once (linear, with `memchr`'s searcher).
pub struct FormScanner {
    delimiter: memmem::Finder<'static>,
    /// Where the part being read starts (its delimiter), once found.
    part: Option<usize>,
    /// How far the search for the part's end has got.
    searched: usize,
}

impl FormScanner {
    pub fn new(boundary: &str) -> FormScanner {
        let delimiter = format!("--{boundary}").into_bytes();
        FormScanner { delimiter: memmem::Finder::new(&delimiter).into_owned(), part: None, searched: 0 }
    }

    /// What the form read so far (`form`, from its first byte) says.
    pub fn scan(&mut self, form: &[u8]) -> Scan {
        let length = self.delimiter.needle().len();
        let mut at = match self.part {
            Some(at) => at,
            None => match self.find_delimiter(form, 0) {
                Some(at) => at,
                None => return Scan::NeedMore,
            },
        };
        loop {
            self.part = Some(at);
            let part = at + length;
            match form.get(part..part + 2) {
                None => return Scan::NeedMore,
                Some(b"--") => return Scan::Absent,
                Some(_) => {}
            }
            let head = &form[part..form.len().min(part + MAX_PART_HEAD)];
            let Some(head_end) = memmem::find(head, b"\r\n\r\n").map(|end| part + end) else {
                return if head.len() == MAX_PART_HEAD { Scan::Malformed } else { Scan::NeedMore };
            };
            let body = head_end + 4;
            let Some(next) = self.find_delimiter(form, body) else { return Scan::NeedMore };
            if names_model(&form[part..head_end]) {
                // The value ends at the CRLF before the next delimiter.
                let value = form[body..next].strip_suffix(b"\r\n").unwrap_or(&form[body..next]);
                return Scan::Found(String::from_utf8_lossy(value).trim().to_owned());
            }
            at = next;
            self.searched = 0;
        }
    }

    /// The next delimiter at or after `from`, not searching again what an
    /// earlier call searched (but for a delimiter cut by that call's end).
    fn find_delimiter(&mut self, form: &[u8], from: usize) -> Option<usize> {
        let start = from.max(self.searched.saturating_sub(self.delimiter.needle().len()));
        let found = form.get(start..).and_then(|rest| self.delimiter.find(rest)).map(|at| at + start);
        self.searched = if found.is_some() { 0 } else { form.len() };
        found
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

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model\"\r\nContent-Type: audio/mpeg\r\n\r\nID3...\r\n--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--xyz--\r\n";

    fn scan(form: &[u8], boundary: &str) -> Scan {
        FormScanner::new(boundary).scan(form)
    }

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
        let endless = format!("--xyz\r\nX-Pad: {}", "a".repeat(MAX_PART_HEAD));
        assert_eq!(scan(endless.as_bytes(), "xyz"), Scan::Malformed);
    }

    /// Fed a byte at a time, one scanner finds what a whole read finds.
    #[test]
    fn goes_on_where_it_stopped() {
        for cut_at in [1, 2, 3, 7, 64] {
            let mut scanner = FormScanner::new("xyz");
            let form = FORM.as_bytes();
            let mut found = Scan::NeedMore;
            for end in (cut_at..form.len()).step_by(cut_at).chain([form.len()]) {
                found = scanner.scan(&form[..end]);
                if found != Scan::NeedMore {
                    break;
                }
            }
            assert_eq!(found, Scan::Found("whisper-1".into()), "pieces of {cut_at}");
        }
    }
}
