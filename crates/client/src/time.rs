//! Times as people and scripts read them: ISO 8601 (RFC 3339) with the zone, to the second.

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, TimeZone};

/// `ts` in the zone `tz`, e.g. `2026-05-28T20:26:40Z` or `2026-05-28T22:26:40+02:00`;
/// `unknown` when the timestamp is absent or out of range.
pub fn iso8601<Tz>(ts: Option<&prost_types::Timestamp>, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    ts.and_then(|t| {
        let nanos = u32::try_from(t.nanos).ok()?;
        DateTime::from_timestamp(t.seconds, nanos)
    })
    .map_or_else(
        || "unknown".to_owned(),
        |at| {
            at.with_timezone(tz)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn ts(seconds: i64, nanos: i32) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos }
    }

    #[test]
    fn utc_ends_in_z_and_other_zones_carry_their_offset() {
        assert_eq!(
            iso8601(Some(&ts(1_780_000_000, 0)), &Utc),
            "2026-05-28T20:26:40Z"
        );
        let cet = FixedOffset::east_opt(3600).expect("an offset");
        assert_eq!(
            iso8601(Some(&ts(1_780_000_000, 999_000_000)), &cet),
            "2026-05-28T21:26:40+01:00"
        );
    }

    #[test]
    fn absent_or_impossible_times_are_unknown() {
        assert_eq!(iso8601(None, &Utc), "unknown");
        assert_eq!(iso8601(Some(&ts(0, -1)), &Utc), "unknown");
        assert_eq!(iso8601(Some(&ts(i64::MAX, 0)), &Utc), "unknown");
    }
}
