//! AWS Secrets Manager: fetches one secret, a JSON object of configuration key -> value, before
//! anything connects. The rest of the code never sees the AWS SDK's types.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

use crate::config::SECRET_KEYS;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {arn} was not found in Secrets Manager (ResourceNotFoundException)")]
    NotFound { arn: String },
    #[error(
        "access to secret {arn} was denied ({code}): check the task execution role's secretsmanager:GetSecretValue permission"
    )]
    AccessDenied { arn: String, code: String },
    #[error("secret {arn} holds no SecretString (binary secrets are not supported)")]
    NotString { arn: String },
    #[error("secret {arn} is not a JSON object of key -> string value: {reason}")]
    NotJsonObject { arn: String, reason: String },
    #[error("secret {arn} holds key {key:?}, which is not one of {allowed}")]
    UnknownKey { arn: String, key: String, allowed: String },
    #[error("could not read secret {arn} from Secrets Manager: {message}")]
    Unavailable { arn: String, message: String },
}

/// Fetches `arn` and returns its key -> value pairs. `endpoint_url` points the SDK at an
/// emulator (tests) or a VPC endpoint; otherwise the SDK's default resolution applies.
pub async fn fetch(arn: &str, endpoint_url: Option<&str>) -> Result<HashMap<String, String>, SecretsError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    fetch_with(arn, &loader.load().await).await
}

/// Like [`fetch`], with an SDK configuration built by the caller (tests: static credentials).
pub async fn fetch_with(
    arn: &str,
    sdk_config: &aws_config::SdkConfig,
) -> Result<HashMap<String, String>, SecretsError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|err| {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned).unwrap_or_else(|| match status {
            Some(s) => format!("HTTP {s}"),
            None => "no response".to_owned(),
        });
        if status == Some(403) && !code.starts_with("ResourceNotFound") {
            return SecretsError::AccessDenied { arn: arn.to_owned(), code };
        }
        match code.as_str() {
            "ResourceNotFoundException" => SecretsError::NotFound { arn: arn.to_owned() },
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "ExpiredTokenException" => SecretsError::AccessDenied { arn: arn.to_owned(), code },
            _ => SecretsError::Unavailable {
                arn: arn.to_owned(),
                message: match err.message() {
                    Some(m) => format!("{code}: {m}"),
                    None => aws_sdk_secretsmanager::error::DisplayErrorContext(&err).to_string(),
                },
            },
        }
    })?;
    let raw = out.secret_string().ok_or_else(|| SecretsError::NotString { arn: arn.to_owned() })?;
    parse(arn, raw)
}

/// Parses the secret's text. Values are never included in errors.
pub fn parse(arn: &str, raw: &str) -> Result<HashMap<String, String>, SecretsError> {
    let not_object = |reason: String| SecretsError::NotJsonObject { arn: arn.to_owned(), reason };
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| not_object(format!("invalid JSON at line {} column {}", e.line(), e.column())))?;
    let serde_json::Value::Object(map) = value else {
        return Err(not_object("the top level is not an object".into()));
    };
    let mut out = HashMap::with_capacity(map.len());
    for (key, value) in map {
        if !SECRET_KEYS.contains(&key.as_str()) {
            return Err(SecretsError::UnknownKey { arn: arn.to_owned(), key, allowed: SECRET_KEYS.join(", ") });
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            // A service-account JSON may be stored as a nested object.
            serde_json::Value::Object(_) if key == "WEELO_FCM_CREDENTIALS" => value.to_string(),
            _ => return Err(not_object(format!("the value of {key:?} is not a string"))),
        };
        out.insert(key, value);
    }
    Ok(out)
}
