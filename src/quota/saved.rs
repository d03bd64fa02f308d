//! In-process counters saved to a file (`[state] file`), so a restart does
//! not reset a day's or a month's budget: read at start, written every
//! [`EVERY`] when something changed and once more at shutdown. The file
//! is replaced whole (written beside it, then renamed), so a crash leaves
//! the previous version; counters of ended windows are left out.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::memory::MemoryStore;

/// How often changed counters are written.
pub const EVERY: Duration = Duration::from_secs(5);

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    counters: Vec<(String, u64, u64)>,
}

/// Loads the counters of `path` into `store`; a missing file is empty.
pub fn load(path: &Path, store: &MemoryStore) -> Result<usize, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let saved: Saved = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let now = now();
    let live: Vec<_> = saved.counters.into_iter().filter(|(_, _, ends)| *ends > now).collect();
    for (key, value, ends) in &live {
        store.add(key, *value, *ends, now);
    }
    Ok(live.len())
}

/// Writes the live counters of `store` to `path`.
pub fn save(path: &Path, store: &MemoryStore) -> std::io::Result<()> {
    let saved = Saved { counters: store.snapshot(now()) };
    let text = serde_json::to_string(&saved).map_err(std::io::Error::other)?;
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_a_restart_and_ended_windows_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counters.json");
        let store = MemoryStore::default();
        let later = now() + 3_600;
        store.add("relay:bob:budget_tokens:0", 240, later, now());
        save(&path, &store).unwrap();
        let restarted = MemoryStore::default();
        assert_eq!(load(&path, &restarted), Ok(1));
        assert_eq!(restarted.read(now(), |get| get("relay:bob:budget_tokens:0")), 240);
        assert_eq!(load(&dir.path().join("absent.json"), &restarted), Ok(0));
        std::fs::write(&path, r#"{"counters":[["old",5,1]]}"#).unwrap();
        assert_eq!(load(&path, &MemoryStore::default()), Ok(0));
    }
}
