//! The headers every HTML page of the server carries (the console, the public complaint
//! pages): its Content-Security-Policy, and no sniffing, framing, caching or leaking referrer.

use axum::http::{HeaderMap, HeaderValue, header};

/// Sets the page headers, with `csp` as the Content-Security-Policy.
pub fn set(headers: &mut HeaderMap, csp: &'static str) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it a browser sends `Origin: null` on the pages' own forms.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}
