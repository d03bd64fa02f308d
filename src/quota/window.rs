//! Windows of limits on the wall clock: a fixed length aligned to the Unix
//! epoch, or the UTC calendar month. Every replica computes the same window
//! from the same time, so counters shared through Redis never drift.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::policy::consumer::Per;

/// One window: its start (Unix seconds) and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

impl Window {
    /// The window of `per` that contains `now`.
    pub fn at(per: Per, now: SystemTime) -> Window {
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        match per {
            Per::Every(length) => {
                let length = length.as_secs().max(1);
                let start = secs - secs % length;
                Window { start, end: start + length }
            }
            Per::Month => {
                let (year, month) = year_month(secs / 86_400);
                let start = days_from_civil(year, month, 1) * 86_400;
                let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
                Window { start, end: days_from_civil(next_year, next_month, 1) * 86_400 }
            }
        }
    }

    /// Whole seconds from `now` until the window ends (at least 1).
    pub fn seconds_left(&self, now: SystemTime) -> u64 {
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        self.end.saturating_sub(secs).max(1)
    }
}

/// Year and month of a day counted from 1970-01-01 (proleptic Gregorian).
fn year_month(days: u64) -> (u64, u64) {
    // Howard Hinnant's civil-from-days, for days since the epoch.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month)
}

/// Days from 1970-01-01 to a date (the inverse of [`year_month`]).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn fixed_windows_align_to_the_epoch() {
        let minute = Window::at(Per::Every(Duration::from_secs(60)), at(125));
        assert_eq!(minute, Window { start: 120, end: 180 });
        assert_eq!(minute.seconds_left(at(125)), 55);
        assert_eq!(Window::at(Per::Every(Duration::from_secs(86_400)), at(90_000)).start, 86_400);
    }

    #[test]
    fn months_follow_the_calendar() {
        // 2026-12-02T00:00:00Z and 2024-02-29T12:00:00Z.
        let december = Window::at(Per::Month, at(1_796_169_600));
        assert_eq!(december, Window { start: 1_796_083_200, end: 1_798_761_600 });
        let february = Window::at(Per::Month, at(1_709_208_000));
        assert_eq!(february, Window { start: 1_706_745_600, end: 1_709_251_200 });
    }
}
