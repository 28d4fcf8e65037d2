//! Every random value Portcullis makes is drawn here, from the operating
//! system's generator (through aws-lc-rs, the crypto library already shipped).

/// The operating system gave no random bytes (a broken or sandboxed machine).
/// Nothing secret can be made then: the request fails as an internal error.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct NoRandomness;

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], NoRandomness> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(bytes)
}

/// A decimal code of `digits` digits (at most 9), every value equally likely:
/// draws that would favour low values are drawn again (rejection sampling).
pub fn decimal_code(digits: usize) -> Result<String, NoRandomness> {
    let digits = digits.min(9);
    let range = 10u32.pow(digits as u32);
    // The largest multiple of `range` a u32 holds.
    let limit = u32::MAX - u32::MAX % range;
    loop {
        let drawn = u32::from_be_bytes(bytes::<4>()?);
        if drawn < limit {
            return Ok(format!("{:0width$}", drawn % range, width = digits));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_codes_have_their_digits() {
        for _ in 0..100 {
            let code = decimal_code(6).unwrap();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|byte| byte.is_ascii_digit()));
        }
    }
}
