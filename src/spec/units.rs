//! The one parser for each kind of unit value a spec (or the command line)
//! writes: durations, byte sizes and amounts per window. Located errors are added by
//! [`crate::compile`]; here only the rule and the reason.

use std::time::Duration;

/// `"250ms"`, `"30s"`, `"10m"`: a human duration, greater than zero.
pub fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".to_owned()),
        Err(e) => Err(format!("is not a duration: {e}")),
    }
}

/// `"25MiB"`, `"4 MB"`, `"1024"`: a byte size.
pub fn size(text: &str) -> Result<u64, String> {
    text.trim().parse::<bytesize::ByteSize>().map(|s| s.as_u64()).map_err(|e| format!("is not a size: {e}"))
}

/// The window a limit counts in: a fixed length aligned to the Unix epoch
/// (so `day` is the UTC day, and every replica agrees), or the UTC month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Every(Duration),
    Month,
}

/// `"3/min"`, `"40k/hour"`, `"2M/month"`, `"12.5/day"`: an amount (with an
/// optional `k` or `M`) per `second`, `minute`, `hour`, `day` or `month`.
pub fn per_window(text: &str) -> Result<(f64, Per), String> {
    let (amount, unit) = text.split_once('/').ok_or("is not an amount per window")?;
    let amount = amount.trim();
    let (number, scale) = match amount.strip_suffix(['k', 'K']) {
        Some(number) => (number, 1e3),
        None => amount.strip_suffix('M').map_or((amount, 1.0), |number| (number, 1e6)),
    };
    let amount = number.trim().parse::<f64>().map_err(|_| format!("has `{amount}`, which is not a number"))? * scale;
    if !amount.is_finite() || amount < 0.0 {
        return Err("must be zero or more".to_owned());
    }
    let seconds = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3_600,
        "d" | "day" => 86_400,
        "month" => return Ok((amount, Per::Month)),
        other => return Err(format!("has the window `{other}`; use second, minute, hour, day or month")),
    };
    Ok((amount, Per::Every(Duration::from_secs(seconds))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_per_window() {
        assert_eq!(per_window("3/min"), Ok((3.0, Per::Every(Duration::from_secs(60)))));
        assert_eq!(per_window("40k/hour"), Ok((40_000.0, Per::Every(Duration::from_secs(3_600)))));
        assert_eq!(per_window(" 2M / month"), Ok((2e6, Per::Month)));
        assert_eq!(per_window("12.5/day"), Ok((12.5, Per::Every(Duration::from_secs(86_400)))));
        assert!(per_window("3").unwrap_err().contains("per window"));
        assert!(per_window("3/fortnight").unwrap_err().contains("fortnight"));
        assert!(per_window("many/day").unwrap_err().contains("not a number"));
        assert!(per_window("-1/day").is_err());
    }

    #[test]
    fn durations_are_positive() {
        assert_eq!(duration(" 250ms "), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert!(duration("0s").unwrap_err().contains("longer than zero"));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(size("4MiB"), Ok(4 * 1024 * 1024));
        assert_eq!(size("1024"), Ok(1024));
        assert!(size("big").is_err());
    }
}
