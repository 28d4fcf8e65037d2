//! Recovery codes: the way into an account whose authenticator is lost. Ten
//! single-use codes of 80 random bits each, shown once as
//! `xxxx-xxxx-xxxx-xxxx` in Crockford's base32 (no I, L, O or U to misread),
//! and kept only as SHA-256 hashes salted with the account id: 80 bits cannot
//! be searched from a hash, so a slow password hash would only slow logins down.

use base32::Alphabet;

/// How many codes a set has.
pub const CODES_PER_SET: usize = 10;
/// Random bytes per code: 80 bits.
const CODE_BYTES: usize = 10;

/// A new set of codes as the user is shown them.
pub fn generate_set() -> anyhow::Result<Vec<String>> {
    (0..CODES_PER_SET).map(|_| generate_code()).collect()
}

fn generate_code() -> anyhow::Result<String> {
    let bytes = super::random::bytes::<CODE_BYTES>()?;
    let text = base32::encode(Alphabet::Crockford, &bytes).to_lowercase();
    let groups: Vec<&str> = text
        .as_bytes()
        .chunks(4)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    Ok(groups.join("-"))
}

/// The stored form of a code of `user_id`'s, as typed: case, dashes and
/// spaces do not matter, nor the letters Crockford's base32 reads as digits
/// (O as 0; I and L as 1). `None` for what cannot be a code.
pub fn hash(user_id: &str, typed: &str) -> Option<String> {
    let normalised: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    let valid = normalised.len() == CODE_BYTES * 8 / 5
        && normalised
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && b != b'U'));
    if !valid {
        return None;
    }
    let input = format!("portcullis recovery code\0{user_id}\0{normalised}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_grouped_codes() {
        let set = generate_set().expect("codes");
        assert_eq!(set.len(), 10);
        let distinct: std::collections::HashSet<_> = set.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &set {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.matches('-').count(), 3, "{code}");
            assert!(hash("u", code).is_some(), "{code}");
        }
    }

    #[test]
    fn typing_variations_hash_alike() {
        let code = "0a1b-2c3d-4e5f-6g7h";
        let stored = hash("u", code);
        assert!(stored.is_some());
        assert_eq!(hash("u", "0A1B2C3D4E5F6G7H"), stored);
        assert_eq!(hash("u", "oa1b 2c3d 4e5f 6g7h"), stored);
        assert_eq!(hash("u", "0alb-2c3d-4e5f-6g7h"), stored);
        assert_ne!(hash("someone else", code), stored);
        assert_eq!(hash("u", "short"), None);
        assert_eq!(hash("u", "0a1b-2c3d-4e5f-6g7u"), None);
    }
}
