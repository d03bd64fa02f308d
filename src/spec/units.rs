//! The one parser for each kind of unit value a spec (or the command line)
//! writes: durations and byte sizes. Located errors are added by
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

#[cfg(test)]
mod tests {
    use super::*;

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
