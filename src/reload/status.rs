//! The reload state as JSON for `GET /relay/status`.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Outcome, State};
use crate::diagnostics::SpecError;

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn error_json(e: &SpecError) -> Value {
    json!({"file": e.file, "line": e.line, "column": e.column, "message": e.message, "hint": e.hint})
}

impl State {
    /// The status document: table version, load time, each file's state.
    pub fn to_json(&self, routes: usize) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|(path, file)| match &file.error {
                None => json!({"file": path, "state": "ok"}),
                Some((errors, since)) => json!({
                    "file": path,
                    "state": "error",
                    "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
                    "since": time(*since),
                    "in_force": if file.good.is_some() { "last good version" } else { "none" },
                }),
            })
            .collect();
        json!({
            "version": self.version,
            "loaded_at": self.loaded_at.map(time),
            "routes": routes,
            "files": files,
            "last_reload": self.last.as_ref().map(Outcome::to_json),
        })
    }
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version,
            "applied": self.applied,
            "files_changed": self.files_changed,
            "routes_added": self.routes_added,
            "routes_removed": self.routes_removed,
            "routes_changed": self.routes_changed,
            "errors": self.errors.iter().map(error_json).collect::<Vec<_>>(),
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
        })
    }
}
