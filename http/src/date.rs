//! The `Date` header, rendered at most once a second and shared by every connection.
//!
//! Every response carries `Date` (RFC 9110 §6.6.1), and formatting a date on every response is
//! measurable at hundreds of thousands of responses per second. So the rendered value is
//! cached: a process-wide copy behind a mutex, refreshed by the first thread that notices the
//! second has changed, and a per-thread copy of it, so the common case (same second as the
//! last response on this thread) takes no lock at all.

use http::HeaderValue;
use std::cell::RefCell;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

static SHARED: Mutex<Option<(u64, HeaderValue)>> = Mutex::new(None);

thread_local! {
    static LOCAL: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

/// The current `Date` value, e.g. `Fri, 27 Nov 2026 03:04:05 GMT`.
pub fn now() -> HeaderValue {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if let Some((s, v)) = local.as_ref() {
            if *s == secs {
                return v.clone();
            }
        }
        let value = {
            let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            match shared.as_ref() {
                Some((s, v)) if *s == secs => v.clone(),
                _ => {
                    let text = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
                    let v = HeaderValue::from_str(&text).expect("an HTTP date is a valid header value");
                    *shared = Some((secs, v.clone()));
                    v
                }
            }
        };
        *local = Some((secs, value.clone()));
        value
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_an_imf_fixdate() {
        let v = super::now();
        let s = v.to_str().unwrap();
        assert_eq!(s.len(), 29, "{s}");
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok(), "{s}");
    }
}
