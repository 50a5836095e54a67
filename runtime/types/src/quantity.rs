use std::time::Duration;

/// Why a byte quantity or a duration was refused. Each message quotes the
/// text as given, so that a setting or spec field it came from is easy to
/// find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("'{text}' is not a byte quantity such as 256Mi, 1Gi or 1048576")]
    NotBytes { text: String },
    #[error("'{text}' has an unknown unit '{unit}' (use Ki, Mi, Gi, Ti, k, M or G)")]
    UnknownByteUnit { text: String, unit: String },
    /// More bytes than a `u64` counts.
    #[error("'{text}' is too large")]
    TooManyBytes { text: String },
    #[error("'{text}' is not a duration such as 500ms, 10s or 2m")]
    NotDuration { text: String },
    #[error("'{text}' needs a unit: ms, s, m or h")]
    DurationWithoutUnit { text: String },
    #[error("'{text}' has an unknown unit '{unit}' (use ms, s, m or h)")]
    UnknownDurationUnit { text: String, unit: String },
}

/// Splits `250ms` into `(250, "ms")`; `None` when there is no leading number.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// Parses a byte quantity as Kubernetes writes them: `134217728`, `128Mi`,
/// `1Gi`, `500M`, `64k`.
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    let text = text.trim();
    let (number, unit) = split_number(text).ok_or_else(|| QuantityError::NotBytes {
        text: text.to_string(),
    })?;
    let multiplier: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => {
            return Err(QuantityError::UnknownByteUnit {
                text: text.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| QuantityError::TooManyBytes {
            text: text.to_string(),
        })
}

/// A byte count for people: `512 B`, `1.5 KiB`, `64.0 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Parses a duration: `250ms`, `10s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, QuantityError> {
    let text = text.trim();
    let (number, unit) = split_number(text).ok_or_else(|| QuantityError::NotDuration {
        text: text.to_string(),
    })?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "" => {
            return Err(QuantityError::DurationWithoutUnit {
                text: text.to_string(),
            })
        }
        _ => {
            return Err(QuantityError::UnknownDurationUnit {
                text: text.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("128Mi"), Ok(128 << 20));
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("500M"), Ok(500_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("12 bananas")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_bytes("Mi").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("needs a unit"));
        assert!(parse_duration("3 days").is_err());
    }
}
