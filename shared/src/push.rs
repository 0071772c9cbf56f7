//! FCM HTTP v1 push (not the legacy API, which Google shut down in 2024). OAuth2 with the
//! service account's own key (JWT bearer grant), the access token cached until shortly before
//! it expires. The base URLs come from configuration and the service-account JSON, so tests
//! point both at a local fake.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Debug, Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key: String,
    client_email: String,
    token_uri: String,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The token is dead (`token_is_dead`): delete it.
    Unregistered,
    /// FCM refused the message for good (e.g. INVALID_ARGUMENT): do not retry.
    Rejected(String),
}

/// FCM says the token itself is no good, for ever: it was unregistered (404 `UNREGISTERED`), it
/// is not a registration token at all (400 `INVALID_ARGUMENT` naming the registration token), or
/// it belongs to another project (403 `SENDER_ID_MISMATCH`). Such tokens are deleted; a 400 about
/// anything else in the message is our bug and is dead-lettered instead.
pub fn token_is_dead(status: u16, body: &str) -> bool {
    status == 404
        || body.contains("UNREGISTERED")
        || body.contains("SENDER_ID_MISMATCH")
        || (status == 400 && body.to_ascii_lowercase().contains("registration token"))
}

/// A failure worth retrying (5xx, 429, timeouts, an OAuth hiccup).
#[derive(Debug, thiserror::Error)]
#[error("FCM temporarily unavailable: {0}")]
pub struct Transient(pub String);

pub struct Fcm {
    http: reqwest::Client,
    base_url: String,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    token: Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    /// `credentials`: the service-account JSON; `base_url`: e.g. `https://fcm.googleapis.com`.
    pub fn new(credentials: &str, base_url: &str) -> anyhow::Result<Self> {
        let account: ServiceAccount = serde_json::from_str(credentials)
            .map_err(|e| anyhow::anyhow!("WEELO_FCM_CREDENTIALS is not a service-account JSON: {e}"))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| anyhow::anyhow!("WEELO_FCM_CREDENTIALS: private_key is not an RSA PEM key: {e}"))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_owned(), account, key, token: Mutex::new(None) })
    }

    async fn access_token(&self) -> Result<String, Transient> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.account.client_email,
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion =
            jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &self.key)
                .map_err(|e| Transient(format!("signing the OAuth assertion: {e}")))?;
        let resp = self
            .http
            .post(&self.account.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| Transient(format!("OAuth token request: {e}")))?;
        if !resp.status().is_success() {
            return Err(Transient(format!("OAuth token endpoint answered {}", resp.status())));
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            expires_in: u64,
        }
        let t: Token = resp.json().await.map_err(|e| Transient(format!("OAuth token response: {e}")))?;
        let until = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60));
        *cached = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// Sends a data message (all values strings, as FCM requires) with an optional notification.
    pub async fn send(
        &self,
        device_token: &str,
        data: &BTreeMap<String, String>,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Outcome, Transient> {
        let token = self.access_token().await?;
        let mut message = json!({ "token": device_token, "data": data, "android": { "priority": "high" } });
        if let Some(title) = title {
            message["notification"] = json!({ "title": title, "body": body.unwrap_or_default() });
        }
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.account.project_id);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "message": message }))
            .send()
            .await
            .map_err(|e| Transient(format!("send: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Outcome::Sent);
        }
        let text = resp.text().await.unwrap_or_default();
        if status.as_u16() == 401 {
            *self.token.lock().await = None;
            return Err(Transient("access token refused; refreshed for the retry".into()));
        }
        if token_is_dead(status.as_u16(), &text) {
            return Ok(Outcome::Unregistered);
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Transient(format!("FCM answered {status}")));
        }
        Ok(Outcome::Rejected(format!("FCM answered {status}: {}", text.chars().take(300).collect::<String>())))
    }
}
