//! HS256 access tokens with claims sub, role, jti (and tid for drivers: their transporter).

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Config;
use crate::domain::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub jti: Uuid,
    /// The transporter a driver belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: Vec<DecodingKey>,
    ttl: Duration,
}

impl TokenSigner {
    pub fn new(config: &Config) -> Self {
        let mut decoding = vec![DecodingKey::from_secret(config.jwt_secret.expose().as_bytes())];
        if let Some(prev) = &config.jwt_previous_secret {
            decoding.push(DecodingKey::from_secret(prev.expose().as_bytes()));
        }
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.expose().as_bytes()),
            decoding,
            ttl: config.access_token_ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: Uuid, role: Role, transporter: Option<Uuid>) -> anyhow::Result<(String, Claims)> {
        self.issue_for(user, role, transporter, self.ttl)
    }

    /// A token that lives `ttl` (tests of expiry; everything else uses the configured one).
    pub fn issue_for(
        &self,
        user: Uuid,
        role: Role,
        transporter: Option<Uuid>,
        ttl: Duration,
    ) -> anyhow::Result<(String, Claims)> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            jti: Uuid::new_v4(),
            tid: transporter,
            iat: now,
            exp: now + ttl.as_secs() as i64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature (current or previous secret), algorithm and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        self.decoding
            .iter()
            .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &validation).ok())
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn signer(secret: &str, previous: Option<&str>) -> TokenSigner {
        let mut vars = HashMap::from([("WEELO_JWT_SECRET".to_owned(), secret.to_owned())]);
        if let Some(p) = previous {
            vars.insert("WEELO_JWT_PREVIOUS_SECRET".into(), p.into());
        }
        TokenSigner::new(&Config::from_vars(&vars).unwrap())
    }

    #[test]
    fn round_trips_and_rejects_tampering() {
        let s = signer("a-secret-that-is-long-enough-0123456789", None);
        let user = Uuid::new_v4();
        let (token, claims) = s.issue(user, Role::Transporter, None).unwrap();
        assert_eq!(s.verify(&token), Some(claims));
        let other = signer("another-secret-that-is-long-enough-012345", None);
        assert_eq!(other.verify(&token), None);
        assert_eq!(s.verify(&format!("{token}x")), None);
    }

    #[test]
    fn previous_secret_still_verifies_during_rotation() {
        let old = signer("old-secret-that-is-long-enough-0123456789", None);
        let (token, _) = old.issue(Uuid::new_v4(), Role::Customer, None).unwrap();
        let rotated =
            signer("new-secret-that-is-long-enough-0123456789", Some("old-secret-that-is-long-enough-0123456789"));
        assert!(rotated.verify(&token).is_some());
    }
}
