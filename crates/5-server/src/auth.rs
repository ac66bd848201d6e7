//! Authentication of webhook requests: GitHub's HMAC signature over the raw body, and Gerrit's
//! shared secret (basic-auth password or `token` parameter). Every comparison is constant-time
//! and any of several secrets is accepted, so secrets can be rotated without downtime.

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use octocrab::models::webhook_events::verification::verify_signature;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secrets::Secrets;

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256 of the raw body under each
/// accepted secret, with octocrab's constant-time check (which also refuses legacy SHA-1).
pub fn github_signature_ok(secrets: &Secrets, header: &str, body: &[u8]) -> bool {
    // Every secret is tried (no early exit), so timing does not tell which one matched.
    secrets.iter().fold(false, |ok, secret| {
        ok | verify_signature(header, secret, body).is_ok()
    })
}

/// The signature header GitHub would send for a body (used by tests, the demo and benchmarks).
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Equal strings, compared in constant time (on digests, so lengths do not leak either).
fn same_secret(given: &str, secret: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(secret.as_bytes()))
        .into()
}

/// Accepts a Gerrit request whose basic-auth password or `token` query parameter is one of the
/// secrets (the webhooks plugin sends credentials embedded in its configured URL).
pub fn gerrit_request_ok(secrets: &Secrets, headers: &HeaderMap, query: Option<&str>) -> bool {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(b64) = auth.trim().strip_prefix("Basic ")
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim())
        && let Ok(text) = String::from_utf8(raw)
        && let Some((_, password)) = text.split_once(':')
    {
        candidates.push(password.to_string());
    }
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                candidates.push(percent_decode(v));
            }
        }
    }
    candidates
        .iter()
        .any(|c| secrets.iter().fold(false, |ok, s| ok | same_secret(c, s)))
}

/// Decodes `%XX` escapes and `+` (as a space) in a URL query value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if c == b'+' { b' ' } else { c });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn github_signatures_verify_with_any_accepted_secret() {
        let body = br#"{"action":"opened"}"#;
        let secrets = Secrets::new(["new".to_string(), "old".to_string()]);
        assert!(github_signature_ok(
            &secrets,
            &github_signature("old", body),
            body
        ));
        assert!(github_signature_ok(
            &secrets,
            &github_signature("new", body),
            body
        ));
        assert!(!github_signature_ok(
            &secrets,
            &github_signature("other", body),
            body
        ));
        assert!(!github_signature_ok(
            &secrets,
            &github_signature("new", body),
            b"tampered"
        ));
        assert!(!github_signature_ok(&secrets, "sha1=abcdef", body));
        assert!(!github_signature_ok(&secrets, "sha256=zz", body));
        // Known vector from GitHub's documentation.
        let doc = Secrets::new(["It's a Secret to Everybody".to_string()]);
        assert!(github_signature_ok(
            &doc,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            b"Hello, World!"
        ));
    }

    #[test]
    fn gerrit_accepts_basic_auth_password_or_token() {
        let secrets = Secrets::new(["s3cret/+x".to_string()]);
        let mut h = HeaderMap::new();
        assert!(!gerrit_request_ok(&secrets, &h, None));
        assert!(gerrit_request_ok(
            &secrets,
            &h,
            Some("a=1&token=s3cret%2F%2Bx")
        ));
        assert!(!gerrit_request_ok(&secrets, &h, Some("token=wrong")));
        let b64 = base64::engine::general_purpose::STANDARD.encode("gerrit:s3cret/+x");
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {b64}")).unwrap(),
        );
        assert!(gerrit_request_ok(&secrets, &h, None));
        let bad = base64::engine::general_purpose::STANDARD.encode("gerrit:nope");
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {bad}")).unwrap(),
        );
        assert!(!gerrit_request_ok(&secrets, &h, None));
        assert_eq!(percent_decode("a%20b%zz%"), "a b%zz%");
    }
}
