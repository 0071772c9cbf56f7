//! One-time codes: six random digits, stored as an HMAC keyed by the server's secret so a
//! leaked table cannot be brute-forced offline.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub fn generate() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000))
}

pub fn hash(key: &[u8], phone: &str, role: &str, code: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(phone.as_bytes());
    mac.update(b"|");
    mac.update(role.as_bytes());
    mac.update(b"|");
    mac.update(code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn matches(stored: &str, candidate: &str) -> bool {
    stored.as_bytes().ct_eq(candidate.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let c = generate();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|ch| ch.is_ascii_digit()));
        }
    }

    #[test]
    fn hash_binds_phone_role_and_code() {
        let h = hash(b"k", "+919876543210", "customer", "123456");
        assert!(matches(&h, &hash(b"k", "+919876543210", "customer", "123456")));
        assert!(!matches(&h, &hash(b"k", "+919876543210", "transporter", "123456")));
        assert!(!matches(&h, &hash(b"k", "+919876543210", "customer", "123457")));
        assert!(!matches(&h, &hash(b"other", "+919876543210", "customer", "123456")));
        assert!(!h.contains("123456"));
    }
}
