//! HTTP dates (RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).

use time::OffsetDateTime;
use time::macros::format_description;

/// Formats `t` as an IMF-fixdate in GMT; `None` for years outside 0000..=9999.
pub(crate) fn format(t: OffsetDateTime) -> Option<String> {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC).format(&fmt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_example() {
        let t = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(format(t).as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    }
}
