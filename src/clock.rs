//! Time: the wall clock in milliseconds since the Unix epoch (the unit every record
//! stores), time units, and conversions to the texts and types S3 uses. A leaf: used by all.

/// Milliseconds in a (UTC) day.
pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The day (since the Unix epoch, UTC) `ms` falls in; 0 for times before the epoch.
pub fn day_of(ms: i64) -> u64 {
    u64::try_from(ms.div_euclid(MILLIS_PER_DAY)).unwrap_or(0)
}

/// `YYYY-MM-DD` of a day number (days since the Unix epoch).
pub fn day_text(day: u64) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(i64::try_from(day).unwrap_or(0));
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// `ms` (since the Unix epoch) as S3 writes times: `2026-11-29T09:00:00.123Z`.
pub fn utc_text(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    offset_date_time(ms).format(&format).unwrap_or_default()
}

/// An S3 timestamp of `ms` (since the Unix epoch); the epoch itself for a time `time`
/// cannot represent.
pub fn timestamp_ms(ms: i64) -> s3s::dto::Timestamp {
    s3s::dto::Timestamp::from(offset_date_time(ms))
}

/// Milliseconds since the epoch of an S3 timestamp (the inverse of `timestamp_ms`).
///
/// A time outside i64 milliseconds saturates: after every representable time to
/// `i64::MAX`, before to `i64::MIN`. Callers compare these values with stored times, and
/// saturation keeps each comparison's direction: a retain-until date or a lifecycle `Date`
/// that far ahead stays in the future (never "already due", which would release a lock or
/// expire objects), and an `If-Unmodified-Since` that far ahead still holds. (Returning 0,
/// as one of two earlier copies did, turned such times into 1970.) `time`'s dates span
/// years ±9999, about ±2.5e14 ms, so no S3 timestamp reaches either bound today: the choice
/// only keeps it so if the range grows.
pub fn ms_of(t: &s3s::dto::Timestamp) -> i64 {
    let t = time::OffsetDateTime::from(t.clone());
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(if ms > 0 { i64::MAX } else { i64::MIN })
}

fn offset_date_time(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_agree() {
        assert_eq!(utc_text(1_764_406_800_123), "2025-11-29T09:00:00.123Z");
        assert_eq!(ms_of(&timestamp_ms(1_764_406_800_123)), 1_764_406_800_123);
        assert_eq!(day_text(day_of(1_764_406_800_123)), "2025-11-29");
        assert_eq!(day_of(-1), 0);
    }
}
