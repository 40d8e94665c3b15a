//! Local time as Python's `time.localtime()` + `time.strftime()` produce it,
//! through libc (`tzset`, `localtime_r`, `strftime`), so `TZ` and the C
//! library's zone data are honoured exactly as in CPython.
//!
//! Owns: converting epoch seconds to broken-down local time and formatting it.
//! Does not own: caching or milliseconds (see `logging::formatter`). The
//! process's `LC_TIME` is never changed here; like CPython (which only sets
//! `LC_CTYPE` at start-up) we format in the C locale unless the program called
//! `setlocale`.

use std::ffi::CString;
use std::sync::Once;

use super::error::FormatError;

static TZSET: Once = Once::new();

/// `time.localtime(secs)`: floors the float to whole seconds first.
pub(crate) fn localtime(secs: f64) -> Result<libc::tm, FormatError> {
    if secs.is_nan() {
        return Err(FormatError::Value(
            "Invalid value NaN (not a number)".into(),
        ));
    }
    let floor = secs.floor();
    if !(floor >= i64::MIN as f64 && floor < i64::MAX as f64) {
        return Err(FormatError::Overflow(
            "timestamp out of range for platform time_t".into(),
        ));
    }
    localtime_secs(floor as i64)
}

/// `localtime_r` of whole seconds.
pub(crate) fn localtime_secs(secs: i64) -> Result<libc::tm, FormatError> {
    TZSET.call_once(|| {
        extern "C" {
            fn tzset();
        }
        // SAFETY: tzset only reads TZ and the zone files and sets libc globals;
        // Once makes the call happen a single time.
        unsafe { tzset() }
    });
    // time_t is i64 here but not on every platform.
    #[allow(clippy::useless_conversion)]
    let t: libc::time_t = secs
        .try_into()
        .map_err(|_| FormatError::Overflow("timestamp out of range for platform time_t".into()))?;
    // SAFETY: an all-zero `tm` is a valid value (the zone pointer is null).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r
    // is the reentrant variant and writes only into `tm`.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return Err(FormatError::Os(
            "[Errno 75] Value too large for defined data type".into(),
        ));
    }
    Ok(tm)
}

/// `time.strftime(fmt, tm)`, appending to `out`. CPython's buffer strategy:
/// grow from 1024 until the result is non-empty or the buffer is 256 times the
/// format's length (an empty result is then legitimate, e.g. `%p` elsewhere).
pub(crate) fn strftime(fmt: &str, tm: &libc::tm, out: &mut String) -> Result<(), FormatError> {
    let cfmt =
        CString::new(fmt).map_err(|_| FormatError::Value("embedded null character".into()))?;
    let fmtlen = fmt.chars().count();
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` has `size` writable bytes, `cfmt` is NUL-terminated and
        // `tm` is a valid broken-down time from localtime_r.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, cfmt.as_ptr(), tm) };
        if n > 0 || size >= 256 * fmtlen {
            buf.truncate(n);
            out.push_str(&String::from_utf8_lossy(&buf));
            return Ok(());
        }
        if size >= (1 << 26) {
            return Err(FormatError::Value(
                "strftime result too long (pysyslog limit)".into(),
            ));
        }
        size *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_basics() {
        let tm = localtime(0.0).unwrap_or_else(|e| panic!("{e}"));
        let mut s = String::new();
        strftime("%%|%f|", &tm, &mut s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, "%|%f|");
        assert!(strftime("a\0b", &tm, &mut s).is_err());
        assert!(localtime(f64::NAN).is_err());
        assert!(localtime(1e300).is_err());
        let mut e = String::new();
        strftime("", &tm, &mut e).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e, "");
    }
}
