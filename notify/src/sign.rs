//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>).
//!
//! Each request carries `webhook-id` (the same on every retry, so a receiver
//! can drop duplicates), `webhook-timestamp` (Unix seconds of this attempt)
//! and `webhook-signature`: `v1,` then the base64 HMAC-SHA256 of
//! `id.timestamp.body` under the receiver's secret. Secrets are written
//! `whsec_` then base64 of the key bytes. [`verify`] is what a receiver
//! runs; vigie's tests run it on every delivery.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A webhook signing secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What is wrong with a signature or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The secret is not `whsec_` + base64.
    #[error("the secret must be \"whsec_\" followed by base64 (at least 16 bytes)")]
    BadSecret,
    /// A header is missing or unreadable.
    #[error("missing or unreadable header {0}")]
    MissingHeader(&'static str),
    /// The timestamp is too far from now (a replay, or a wrong clock).
    #[error("timestamp {ts} is {skew} s away from now; at most {tolerance} s allowed")]
    Stale {
        /// The timestamp received.
        ts: i64,
        /// Its distance from now, seconds.
        skew: i64,
        /// The tolerance, seconds.
        tolerance: i64,
    },
    /// No signature matches the body.
    #[error("no signature matches the body")]
    Mismatch,
}

impl Secret {
    /// Reads `whsec_<base64>` (the prefix is optional).
    ///
    /// # Errors
    /// [`SignError::BadSecret`] when it is not base64 of at least 16 bytes.
    pub fn parse(s: &str) -> Result<Self, SignError> {
        let b = s.trim().strip_prefix("whsec_").unwrap_or(s.trim());
        let key = B64.decode(b).map_err(|_| SignError::BadSecret)?;
        if key.len() < 16 {
            return Err(SignError::BadSecret);
        }
        Ok(Secret(key))
    }

    /// A new random 32-byte secret, written `whsec_…`.
    ///
    /// # Panics
    /// When the operating system has no randomness to give.
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        format!("whsec_{}", B64.encode(key))
    }

    fn mac(&self, id: &str, ts: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for this id, timestamp (Unix seconds) and body.
    pub fn sign(&self, id: &str, ts: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(id, ts, body).finalize().into_bytes()))
    }

    /// Checks a request as a receiver would: the timestamp is within
    /// `tolerance` seconds of `now`, and one of the space-separated `v1,`
    /// signatures matches (compared in constant time).
    ///
    /// # Errors
    /// [`SignError`] naming what failed.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
        tolerance: i64,
    ) -> Result<(), SignError> {
        let ts: i64 = timestamp.trim().parse().map_err(|_| SignError::MissingHeader("webhook-timestamp"))?;
        let skew = (now - ts).abs();
        if skew > tolerance {
            return Err(SignError::Stale { ts, skew, tolerance });
        }
        for sig in signatures.split_whitespace() {
            let Some(b) = sig.strip_prefix("v1,") else { continue };
            let Ok(bytes) = B64.decode(b) else { continue };
            if self.mac(id, ts, body).verify_slice(&bytes).is_ok() {
                return Ok(());
            }
        }
        Err(SignError::Mismatch)
    }
}

/// A bad secret is the operator's; a bad signature, the sender's.
impl vigie_schemas::Classify for SignError {
    fn fault(&self) -> vigie_schemas::Fault {
        vigie_schemas::Fault::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification's reference
    /// implementations.
    #[test]
    fn matches_the_specification_example() {
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        s.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig, body, 1614265330, 300).unwrap();
    }

    #[test]
    fn tampering_and_old_timestamps_are_refused() {
        let s = Secret::parse(&Secret::generate()).unwrap();
        let sig = s.sign("msg_1", 1_000, b"{}");
        assert_eq!(s.verify("msg_1", "1000", &sig, b"{ }", 1_000, 300), Err(SignError::Mismatch));
        assert_eq!(s.verify("msg_2", "1000", &sig, b"{}", 1_000, 300), Err(SignError::Mismatch));
        assert!(matches!(s.verify("msg_1", "1000", &sig, b"{}", 1_301, 300), Err(SignError::Stale { .. })));
        let other = Secret::parse(&Secret::generate()).unwrap();
        assert_eq!(other.verify("msg_1", "1000", &sig, b"{}", 1_000, 300), Err(SignError::Mismatch));
        // Several signatures (secret rotation): one matching is enough.
        let both = format!("v1,AAAA {sig}");
        s.verify("msg_1", "1000", &both, b"{}", 1_000, 300).unwrap();
    }

    #[test]
    fn short_or_garbled_secrets_are_refused() {
        assert_eq!(Secret::parse("whsec_abc").unwrap_err(), SignError::BadSecret);
        assert_eq!(Secret::parse("not base64 at all!").unwrap_err(), SignError::BadSecret);
    }
}
