//! `relay test`: runs every route's examples offline (see
//! [`crate::explain::examples`]) and exits 0 when all pass, 1 when one
//! fails, 2 when the routes do not compile.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::env::Env;
use crate::live::Live;
use crate::table::UpstreamAuth;

/// The key an upstream's unset key variable takes for the run.
const PLACEHOLDER_KEY: &str = "relay-test-placeholder-key";

pub fn run(dirs: &[PathBuf]) -> ExitCode {
    let Some(live) = load(dirs) else { return ExitCode::from(2) };
    let summary = match crate::explain::examples::run(&live.table) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if summary.passed + summary.failed == 0 {
        eprintln!("note: no route in {} has examples", super::display_dirs(dirs));
    }
    if std::io::stdout().lock().write_all(summary.report.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    if summary.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The routes, compiled with the process environment, where every upstream
/// key variable that is unset takes a placeholder: examples then show the
/// requests of a relay whose keys are configured (keys are shown redacted
/// anyway), in a CI that has none.
fn load(dirs: &[PathBuf]) -> Option<Live> {
    let env = Env::from_process();
    let live = super::load(dirs, &env)?;
    let unset: Vec<String> = live
        .table
        .upstreams
        .iter()
        .filter_map(|upstream| match &upstream.auth {
            UpstreamAuth::Bearer { env, header: None, .. } => Some(env.clone()),
            _ => None,
        })
        .collect();
    if unset.is_empty() {
        return Some(live);
    }
    eprintln!("note: unset, a placeholder for this run: {}", unset.join(", "));
    let placeholders = unset.into_iter().map(|name| (name, PLACEHOLDER_KEY.to_owned()));
    super::load(dirs, &Env::from_pairs(std::env::vars().chain(placeholders)))
}
