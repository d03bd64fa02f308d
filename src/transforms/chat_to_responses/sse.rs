//! An incremental SSE parser: bytes go in as they arrive, complete events
//! come out. Lines may end in `\n`, `\r\n` or `\r`, and an event (or a line,
//! or a `\r\n` pair) may be split across chunks. What it holds is bounded.

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into [`SseEvent`]s.
#[derive(Debug)]
pub struct SseSplitter {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    limit: usize,
}

/// An event (or a line) larger than the splitter's limit.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge(pub usize);

impl SseSplitter {
    /// A splitter that refuses to hold more than `limit` bytes of one event.
    pub fn new(limit: usize) -> Self {
        SseSplitter { buf: Vec::new(), event: None, data: None, limit }
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buf[start..].iter().position(|b| matches!(b, b'\n' | b'\r')) {
            let end = start + offset;
            let next = match (self.buf[end], self.buf.get(end + 1)) {
                // A `\r` at the end may be the first half of `\r\n`: wait.
                (b'\r', None) => break,
                (b'\r', Some(b'\n')) => end + 2,
                _ => end + 1,
            };
            let line = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
            self.line(&line, &mut events);
            start = next;
        }
        self.buf.drain(..start);
        let held = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if held > self.limit {
            return Err(TooLarge(self.limit));
        }
        Ok(events)
    }

    /// The stream ended. A final lone `\r` still ends its line (it may
    /// complete an event); anything else unterminated is discarded, as the
    /// SSE standard says for an event cut off by the end of the stream.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.buf);
        let mut events = Vec::new();
        if let Some(line) = rest.strip_suffix(b"\r") {
            self.line(&String::from_utf8_lossy(line), &mut events);
        }
        self.event = None;
        self.data = None;
        events.pop()
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                events.push(SseEvent { event, data });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: name.map(str::to_owned), data: data.to_owned() }
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let text = "event: a\ndata: {\"x\":1}\n\n: comment\ndata: one\r\ndata: two\r\n\r\nid: 3\rdata: z\r\r";
        for size in 1..text.len() {
            let mut splitter = SseSplitter::new(1024);
            let mut got = Vec::new();
            for piece in text.as_bytes().chunks(size) {
                got.extend(splitter.push(piece).unwrap());
            }
            // A final lone `\r` may still be half of `\r\n`: only the end tells.
            got.extend(splitter.finish());
            assert_eq!(
                got,
                vec![event(Some("a"), "{\"x\":1}"), event(None, "one\ntwo"), event(None, "z")],
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn an_event_cut_off_by_the_end_is_discarded() {
        let mut splitter = SseSplitter::new(1024);
        assert_eq!(splitter.push(b"data: {\"cut").unwrap(), vec![]);
        assert_eq!(splitter.finish(), None);
        assert_eq!(splitter.push(b"data: whole\n").unwrap(), vec![]);
        assert_eq!(splitter.finish(), None);
        assert_eq!(splitter.push(b"event: only-a-name\n\n").unwrap(), vec![]);
    }

    #[test]
    fn what_it_holds_is_bounded() {
        let mut splitter = SseSplitter::new(16);
        assert!(splitter.push(b"data: 0123456789").is_ok());
        assert_eq!(splitter.push(b"0123456789"), Err(TooLarge(16)));
        let mut lines = SseSplitter::new(16);
        assert_eq!(lines.push(b"data: 0123456789\ndata: 0123456789\n"), Err(TooLarge(16)));
    }
}
