//! Time-based one-time passwords (RFC 6238) as authenticator apps make them:
//! HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret, and one step of
//! clock drift either way. The arithmetic is totp-rs's; what is ours is the
//! step a code matched, so a code can be accepted only once.

use totp_rs::{Algorithm, TOTP};

/// Bytes of a new secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// Steps of drift accepted either side of the current one.
const SKEW_STEPS: u64 = 1;

/// A fresh random secret.
pub fn generate_secret() -> anyhow::Result<Vec<u8>> {
    Ok(super::random::bytes::<SECRET_LEN>()?.to_vec())
}

/// The secret in base32, for typing into an app by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER…` URI apps scan
/// from a QR code. Neither the issuer nor the account may contain `:`.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<String> {
    let totp = TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|error| anyhow::anyhow!("cannot describe the TOTP secret: {error}"))?;
    Ok(totp.get_url())
}

/// The time step (seconds since the epoch / 30) whose code `code` is, among
/// the current step and its neighbours at `unix_time`; `None` if none.
/// Spaces are ignored (apps show `123 456`).
pub fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret.to_vec(),
        None,
        String::new(),
    );
    let current = unix_time / STEP_SECS;
    let mut matched = None;
    // Every candidate is compared (in constant time each) so the answer's
    // timing does not say which step matched.
    for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
        if totp.check(&code, step * STEP_SECS) {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, truncated to 6 digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(matching_step(secret, code, time), Some(time / 30), "{time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_two_are_not() {
        let secret = b"12345678901234567890";
        let code = "005924"; // step of 1_234_567_890
        let step = 1_234_567_890 / 30;
        assert_eq!(matching_step(secret, code, (step + 1) * 30), Some(step));
        assert_eq!(matching_step(secret, code, (step - 1) * 30), Some(step));
        assert_eq!(matching_step(secret, code, (step + 2) * 30), None);
        assert_eq!(matching_step(secret, "005 924", step * 30), Some(step));
        assert_eq!(matching_step(secret, "00592", step * 30), None);
        assert_eq!(matching_step(secret, "0059245", step * 30), None);
        assert_eq!(matching_step(secret, "٠٠٥٩٢٤", step * 30), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let secret = generate_secret().expect("secret");
        assert_eq!(secret.len(), 20);
        let uri = otpauth_uri(&secret, "Portcullis", "alice@example.com").expect("uri");
        assert!(
            uri.starts_with("otpauth://totp/Portcullis:alice%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("secret={}", secret_base32(&secret))),
            "{uri}"
        );
        assert!(uri.contains("issuer=Portcullis"), "{uri}");
    }
}
