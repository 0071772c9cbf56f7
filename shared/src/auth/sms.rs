//! Delivery of OTP codes. Real SMS providers plug in behind `SmsSender`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::domain::Phone;

pub trait SmsSender: Send + Sync {
    fn send_otp<'a>(&'a self, to: &'a Phone, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Development only: logs the code (configuration refuses it in production).
pub struct ConsoleSms;

impl SmsSender for ConsoleSms {
    fn send_otp<'a>(&'a self, to: &'a Phone, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            tracing::info!(to = %to, otp = %code, "development SMS: OTP code");
            Ok(())
        })
    }
}

/// Keeps the last code sent to each phone, for tests that run the API in-process.
#[derive(Clone, Default)]
pub struct MemorySms {
    sent: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl MemorySms {
    pub fn last_code(&self, to: &str) -> Option<String> {
        let phone = Phone::parse(to).ok()?;
        self.sent.lock().ok()?.get(phone.as_str()).and_then(|codes| codes.last().cloned())
    }

    pub fn count(&self, to: &str) -> usize {
        let Ok(phone) = Phone::parse(to) else {
            return 0;
        };
        self.sent.lock().map(|m| m.get(phone.as_str()).map_or(0, Vec::len)).unwrap_or(0)
    }
}

impl SmsSender for MemorySms {
    fn send_otp<'a>(&'a self, to: &'a Phone, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.sent
                .lock()
                .map_err(|_| anyhow::anyhow!("sms store poisoned"))?
                .entry(to.as_str().to_owned())
                .or_default()
                .push(code.to_owned());
            Ok(())
        })
    }
}

/// Sends through an HTTP gateway: `POST {url}` with `{"to", "code", "text"}`; any 2xx is
/// success. The code never reaches a log line.
pub struct WebhookSms {
    http: reqwest::Client,
    url: String,
    token: Option<crate::config::Secret>,
}

impl WebhookSms {
    pub fn new(url: &str, token: Option<crate::config::Secret>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
        Ok(Self { http, url: url.to_owned(), token })
    }
}

impl SmsSender for WebhookSms {
    fn send_otp<'a>(&'a self, to: &'a Phone, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let body = serde_json::json!({
                "to": to.as_str(),
                "code": code,
                "text": format!("{code} is your Weelo code. It expires in 5 minutes. Do not share it."),
            });
            let mut req = self.http.post(&self.url).json(&body);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.expose());
            }
            // Never the URL in a message: a gateway URL may carry a key.
            let resp = req.send().await.map_err(|e| anyhow::anyhow!("SMS gateway unreachable: {}", e.without_url()))?;
            anyhow::ensure!(resp.status().is_success(), "SMS gateway answered {}", resp.status());
            Ok(())
        })
    }
}
