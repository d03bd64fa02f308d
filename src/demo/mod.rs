//! The first run: `relay demo` serves the shipped routes in front of a mock
//! OpenAI upstream ([`mock`]) in the same process, so the relay can be tried
//! end to end with no API key and no network.
//!
//! The command itself lives in `cli/demo.rs`; this module holds the mock and
//! the requests the demo suggests ([`requests`]).

pub mod mock;

/// Three requests to copy and paste against the relay at `base` (e.g.
/// `http://127.0.0.1:8080`): a chat completion, the same streamed, and a
/// file upload. Each is `(what it shows, the shell command)`, one line each
/// (CI runs the lines the demo prints).
pub fn requests(base: &str) -> [(&'static str, String); 3] {
    let chat = |stream: bool| {
        let extra = if stream { ",\"stream\":true" } else { "" };
        let flags = if stream { "-N " } else { "" };
        format!(
            "curl {flags}{base}/v1/chat/completions -H 'content-type: application/json' \
             -d '{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello, relay!\"}}]{extra}}}'"
        )
    };
    let upload = format!(
        "echo 'hello from a file' | curl {base}/v1/files -F purpose=assistants -F 'file=@-;filename=hello.txt'"
    );
    [("a chat completion", chat(false)), ("the same, streamed", chat(true)), ("a file upload", upload)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_name_the_relay_and_their_endpoint() {
        let [chat, stream, upload] = requests("http://127.0.0.1:9");
        assert!(chat.1.starts_with("curl http://127.0.0.1:9/v1/chat/completions"));
        assert!(stream.1.contains("-N ") && stream.1.contains("\"stream\":true"));
        assert!(upload.1.contains("http://127.0.0.1:9/v1/files") && upload.1.contains("purpose=assistants"));
        assert!([chat, stream, upload].iter().all(|(_, command)| !command.contains('\n')));
    }
}
