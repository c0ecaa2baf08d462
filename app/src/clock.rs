//! Wall-clock time as Unix seconds (what tokens and most rows record) or milliseconds (what
//! the job queue schedules by).

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The current year (UTC): the upper bound for a book's `year`.
pub fn this_year() -> i32 {
    let days = unix_now().div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), enough to get the year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    i32::try_from(yoe + era * 400 + i64::from(month <= 2)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_year_is_plausible() {
        assert!((2024..2200).contains(&super::this_year()));
    }
}
