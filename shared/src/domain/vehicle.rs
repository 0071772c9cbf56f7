//! Vehicle types with their price floors, subtypes, and registration numbers.

use std::fmt;
use std::str::FromStr;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    sqlx::Type,
    serde::Serialize,
    serde::Deserialize,
    poem_openapi::Enum,
)]
#[sqlx(type_name = "vehicle_type", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum VehicleType {
    Mini,
    Lcv,
    Tipper,
    Container,
    Trailer,
    Tanker,
    Bulker,
    Open,
    Dumper,
    Tractor,
}

impl VehicleType {
    pub const ALL: [VehicleType; 10] = [
        VehicleType::Mini,
        VehicleType::Lcv,
        VehicleType::Tipper,
        VehicleType::Container,
        VehicleType::Trailer,
        VehicleType::Tanker,
        VehicleType::Bulker,
        VehicleType::Open,
        VehicleType::Dumper,
        VehicleType::Tractor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleType::Mini => "mini",
            VehicleType::Lcv => "lcv",
            VehicleType::Tipper => "tipper",
            VehicleType::Container => "container",
            VehicleType::Trailer => "trailer",
            VehicleType::Tanker => "tanker",
            VehicleType::Bulker => "bulker",
            VehicleType::Open => "open",
            VehicleType::Dumper => "dumper",
            VehicleType::Tractor => "tractor",
        }
    }

    /// The lowest price per truck (rupees) a customer may offer for this type.
    pub fn price_floor(self) -> u32 {
        match self {
            VehicleType::Mini => 500,
            VehicleType::Lcv => 800,
            VehicleType::Tipper | VehicleType::Open => 1000,
            VehicleType::Dumper => 1500,
            VehicleType::Container | VehicleType::Tractor => 2000,
            VehicleType::Tanker | VehicleType::Bulker => 3000,
            VehicleType::Trailer => 5000,
        }
    }
}

impl fmt::Display for VehicleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VehicleType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VehicleType::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("must be one of {}", VehicleType::ALL.map(VehicleType::as_str).join(", ")))
    }
}

/// A vehicle subtype such as `open_17ft`: lowercase letters, digits and `_`, 1-40 characters.
pub fn parse_subtype(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() || s.len() > 40 || !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err("must be 1-40 characters of a-z, 0-9 and _ (e.g. open_17ft)".into());
    }
    Ok(s)
}

/// An Indian registration number, normalised like `MH02AB1234`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
        let b = s.as_bytes();
        let err = || "must look like MH02AB1234 (state, district, series, 4 digits)".to_owned();
        if b.len() < 7 || b.len() > 11 || !b[..2].iter().all(u8::is_ascii_alphabetic) {
            return Err(err());
        }
        let rest = &b[2..];
        let district = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let series = rest[district..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let number = &rest[district + series..];
        if !(1..=2).contains(&district) || series > 3 || number.len() != 4 || !number.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_match_the_price_list() {
        let floors: Vec<u32> = VehicleType::ALL.iter().map(|t| t.price_floor()).collect();
        assert_eq!(floors, vec![500, 800, 1000, 2000, 5000, 3000, 3000, 1000, 1500, 2000]);
        assert_eq!("Open".parse::<VehicleType>(), Ok(VehicleType::Open));
        assert!("truck".parse::<VehicleType>().is_err());
    }

    #[test]
    fn registration_numbers_normalise() {
        assert_eq!(RegistrationNumber::parse("mh 02 ab 1234").unwrap().as_str(), "MH02AB1234");
        assert_eq!(RegistrationNumber::parse("KA-5-M-7777").unwrap().as_str(), "KA5M7777");
        assert_eq!(RegistrationNumber::parse("DL1C1234").unwrap().as_str(), "DL1C1234");
        for bad in ["", "1234", "MH02AB123", "MHAB1234", "MH02ABCD1234", "MH123AB1234"] {
            assert!(RegistrationNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subtypes() {
        assert_eq!(parse_subtype(" Open_17ft ").unwrap(), "open_17ft");
        assert!(parse_subtype("").is_err());
        assert!(parse_subtype("17 ft").is_err());
    }
}

/// What a transporter's vehicle is doing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize, poem_openapi::Enum,
)]
#[sqlx(type_name = "vehicle_status", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum VehicleStatus {
    Available,
    OnTrip,
    Maintenance,
    Inactive,
}
