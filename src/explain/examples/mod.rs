//! `relay test`: every route's examples (`[[route.examples]]`, compiled in
//! [`crate::policy::example`]) run through [`super::dry_run`], the stages
//! of `serve` with the recording sender, so nothing is sent and no linked
//! file is fetched. What the dry run records is compared with what the
//! example expects ([`compare`]); a failure is shown as a diff ([`diff`]).

mod compare;
mod diff;

use std::fmt::Write;
use std::sync::Arc;

use compare::Actual;

use super::{DryRun, Request};
use crate::policy::example::Example;
use crate::stages::{Outcome, resolve};
use crate::table::{DEFAULT_LISTENER, Table};

/// The report and the counts of one `relay test` run.
#[derive(Debug, Default)]
pub struct Summary {
    /// One line per example (`ok` or `FAILED`), each failure's diff, and
    /// the counts.
    pub report: String,
    pub passed: usize,
    pub failed: usize,
}

/// Runs every example of `table`.
pub fn run(table: &Arc<Table>) -> Result<Summary, String> {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let mut summary = Summary::default();
        for (index, route) in table.routes.iter().enumerate() {
            for example in &route.examples {
                let result = run_one(table, index, example).await?;
                let label = format!("{} / {}", route.id, example.name);
                match result {
                    None => {
                        summary.passed += 1;
                        let _ = writeln!(summary.report, "ok      {label}");
                    }
                    Some(diff) => {
                        summary.failed += 1;
                        let _ = writeln!(summary.report, "FAILED  {label} ({})", example.origin);
                        let _ = writeln!(summary.report, "    --- expected\n    +++ actual\n{diff}");
                    }
                }
            }
        }
        let _ = writeln!(summary.report, "{} passed, {} failed", summary.passed, summary.failed);
        Ok(summary)
    })
}

/// One example: `None` when it passes, else the diff to show.
async fn run_one(table: &Arc<Table>, index: usize, example: &Example) -> Result<Option<String>, String> {
    let route = &table.routes[index];
    let mut request = Request {
        method: example.method.clone(),
        target: example.target.clone(),
        headers: example.headers.clone(),
        body: example.body.clone(),
        ..Request::default()
    };
    request.set_length();
    let listener = route.listeners.first().map_or(DEFAULT_LISTENER, String::as_str);
    let inbound = request.inbound(listener);
    if let Ok(resolved) = resolve::resolve(table, &inbound)
        && resolved.route != index
    {
        let other = &table.routes[resolved.route];
        return Ok(Some(format!("    the request matches route `{}` ({}), not this one\n", other.id, other.origin)));
    }
    let run = super::dry_run(table, &inbound, request.body.as_deref()).await?;
    let actual = actual(run, &request);
    let (want, got) = compare::lines(&example.expect, &actual, &route.upstream.base_url);
    Ok((want != got).then(|| diff::diff(&want, &got, "    ")))
}

/// What the dry run ended in, as the comparison reads it.
fn actual(run: DryRun, request: &Request) -> Actual {
    let DryRun { recorder, outcome } = run;
    match outcome {
        Err(error) => {
            Actual { answer: Some((error.status.as_u16(), error.code.to_owned(), error.message)), ..Actual::default() }
        }
        Ok(Outcome::Local(answer)) => Actual {
            answer: Some((200, String::new(), "an answer of the relay itself".to_owned())),
            body: Some(recorder.redacted_json(&answer)),
            ..Actual::default()
        },
        Ok(Outcome::WebSocket { url, .. }) => {
            Actual { method: Some("GET".to_owned()), url: Some(url), ..Actual::default() }
        }
        Ok(Outcome::Upstream { answer, .. }) => Actual {
            answer: None,
            method: Some(answer.method().to_string()),
            url: Some(answer.url().to_owned()),
            headers: recorder.shown_headers(&answer, &request.headers),
            body: recorder.shown_body(&answer),
            parts: answer.part_names().map(<[String]>::to_vec),
        },
    }
}
