//! Values of command-line arguments that clap does not parse itself: sizes and times.

/// A size in bytes: a number with an optional decimal (K, M, G, T) or binary (Ki, Mi, Gi, Ti)
/// suffix, and an optional `B`.
pub(super) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let (digits, suffix) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        "ti" => 1 << 40,
        _ => return Err(format!("'{text}': expected a number (with K, M, G, T, Ki, Mi, Gi or Ti)")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{text}': expected a number"))?;
    n.checked_mul(unit).ok_or_else(|| format!("'{text}' is too large"))
}

/// A time given as milliseconds since the epoch or as RFC 3339.
pub(super) fn parse_time(s: Option<&str>) -> Result<Option<i64>, String> {
    let Some(s) = s else { return Ok(None) };
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Some(ms));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is not RFC 3339 or milliseconds: {e}"))?;
    Ok(Some(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
}
