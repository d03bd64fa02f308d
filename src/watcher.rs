//! Watches the config directories and signals a reload; it never reloads
//! itself.
//!
//! Directories are watched, not files: editors save by writing a temp file
//! and renaming it, and Kubernetes swaps a `..data` symlink. Bursts of events
//! are debounced (quiet for [`QUIET`], at most [`MAX_DELAY`] after the first
//! event); editor temp and swap files are ignored; a watcher error or a
//! rescan flag (queue overflow) also signals, since a reload re-reads
//! everything anyway.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::Sender;

/// How long the directory must stay quiet before a reload is signalled.
pub const QUIET: Duration = Duration::from_millis(200);
/// The longest a burst can delay its reload.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);

/// Starts watching `dirs` (those that exist); the second list with their
/// subfolders (`schemas/openai/...`). Keep the returned watcher alive for as
/// long as reloads should happen.
pub fn watch(dirs: &[PathBuf], trees: &[PathBuf], signal: Sender<()>) -> notify::Result<RecommendedWatcher> {
    let (events, incoming) = channel();
    let mut watcher = notify::recommended_watcher(events)?;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    for dir in trees.iter().filter(|d| d.is_dir()) {
        watcher.watch(dir, RecursiveMode::Recursive)?;
    }
    std::thread::Builder::new().name("relay-watcher".into()).spawn(move || debounce(&incoming, &signal))?;
    Ok(watcher)
}

/// Turns bursts of relevant events into single signals, until the watcher goes.
fn debounce(incoming: &Receiver<notify::Result<notify::Event>>, signal: &Sender<()>) {
    while let Ok(first) = incoming.recv() {
        if !is_relevant(&first) {
            continue;
        }
        let started = Instant::now();
        loop {
            let left = MAX_DELAY.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            match incoming.recv_timeout(QUIET.min(left)) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // A full channel means a reload is already pending: that one will do.
        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(())) = signal.try_send(()) {
            return;
        }
    }
}

fn is_relevant(event: &notify::Result<notify::Event>) -> bool {
    match event {
        Err(error) => {
            tracing::warn!("File watcher error, reloading everything: {error}");
            true
        }
        Ok(event) if event.need_rescan() => true,
        Ok(event) if event.kind.is_access() => false,
        Ok(event) => event.paths.is_empty() || event.paths.iter().any(|p| !is_editor_temp(p)),
    }
}

/// Editor temp, swap and backup files, which never hold specs.
pub fn is_editor_temp(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name == "4913"
        || name.ends_with('~')
        || name.starts_with(".#")
        || [".swp", ".swx", ".swo", ".tmp"].iter().any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_files_are_ignored_but_kubernetes_links_are_not() {
        for temp in [".files.toml.swp", "files.toml~", ".#files.toml", "4913", "files.toml.tmp"] {
            assert!(is_editor_temp(Path::new(temp)), "{temp}");
        }
        for real in ["files.toml", "..data", "..2026_11_21_18_00_00.123", "..data_tmp"] {
            assert!(!is_editor_temp(Path::new(real)), "{real}");
        }
    }
}
