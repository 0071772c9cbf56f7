//! Indian mobile numbers: 10 digits starting 6-9, optionally written with +91 / 91 / 0.

use std::fmt;

/// A valid Indian mobile number, stored and shown as `+91XXXXXXXXXX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let national = if let Some(rest) = compact.strip_prefix("+91") {
            rest
        } else if compact.len() == 12 && compact.starts_with("91") {
            &compact[2..]
        } else if compact.len() == 11 && compact.starts_with('0') {
            &compact[1..]
        } else {
            compact.as_str()
        };
        let valid = national.len() == 10
            && national.chars().all(|c| c.is_ascii_digit())
            && matches!(national.as_bytes()[0], b'6'..=b'9');
        if !valid {
            return Err(
                "must be an Indian mobile number: 10 digits starting with 6-9, optionally prefixed by +91".into()
            );
        }
        Ok(Self(format!("+91{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: the last four digits only.
    pub fn masked(&self) -> String {
        format!("+91******{}", &self.0[self.0.len() - 4..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_indian_mobiles_in_common_spellings() {
        for raw in ["9876543210", "+919876543210", "+91 98765 43210", "919876543210", "09876543210", "6000000000"] {
            assert_eq!(Phone::parse(raw).unwrap().as_str().len(), 13, "{raw}");
        }
        assert_eq!(Phone::parse("+91 98765-43210").unwrap().as_str(), "+919876543210");
    }

    #[test]
    fn refuses_everything_else() {
        for raw in ["", "5876543210", "987654321", "98765432101", "+4479460000000", "98765abcde", "+92 9876543210"] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn masks_for_logs() {
        assert_eq!(Phone::parse("9876543210").unwrap().masked(), "+91******3210");
    }
}
