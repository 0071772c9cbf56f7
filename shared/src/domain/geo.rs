//! Coordinates inside India and great-circle distance.

/// A point inside India's bounding box (lat 6.5-37, lng 68-97.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl LatLng {
    pub fn parse(lat: f64, lng: f64) -> Result<Self, String> {
        if !lat.is_finite() || !lng.is_finite() || !(6.5..=37.0).contains(&lat) || !(68.0..=97.5).contains(&lng) {
            return Err("must be inside India (lat 6.5 to 37, lng 68 to 97.5)".into());
        }
        Ok(Self { lat, lng })
    }

    /// Haversine distance in kilometres.
    pub fn distance_km(&self, other: &LatLng) -> f64 {
        const R: f64 = 6371.0088;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = (other.lat - self.lat).to_radians();
        let dl = (other.lng - self.lng).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn india_only() {
        assert!(LatLng::parse(19.07, 72.87).is_ok());
        for (lat, lng) in [(51.5, -0.1), (6.4, 72.0), (20.0, 98.0), (f64::NAN, 72.0)] {
            assert!(LatLng::parse(lat, lng).is_err(), "{lat},{lng}");
        }
    }

    #[test]
    fn mumbai_to_pune_is_about_120_km() {
        let mumbai = LatLng::parse(19.0760, 72.8777).unwrap();
        let pune = LatLng::parse(18.5204, 73.8567).unwrap();
        let d = mumbai.distance_km(&pune);
        assert!((115.0..125.0).contains(&d), "{d}");
        assert!(mumbai.distance_km(&mumbai) < 1e-9);
    }
}
