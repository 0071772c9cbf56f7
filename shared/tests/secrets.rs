//! Secrets Manager against a real emulator: moto's server (PyPI `moto[server]`), started per
//! test on a free port. `scripts/pytools` installs it; `just test` puts it on PATH.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;
use weelo_shared::config::Config;
use weelo_shared::secrets::{self, SecretsError};
use weelo_shared::testkit::moto;

async fn sdk(url: &str, key: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "static"))
        .load()
        .await
}

async fn create(sdk: &SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret")
        .arn()
        .expect("arn")
        .to_owned()
}

#[tokio::test]
async fn secret_supplies_database_redis_jwt_and_fcm_and_overrides_the_environment() {
    let m = moto(None).await;
    let sdk = sdk(&m.url, "test", "test").await;
    let arn = create(
        &sdk,
        "weelo/prod/app",
        r#"{"DATABASE_URL":"postgres://app:s3cr3t-db@db.internal/weelo","REDIS_URL":"rediss://cache.internal:6379/?protocol=resp3",
            "WEELO_JWT_SECRET":"jwt-secret-from-secrets-manager-0123456789","WEELO_FCM_CREDENTIALS":{"type":"service_account","project_id":"weelo"}}"#,
    )
    .await;
    let fetched = secrets::fetch_with(&arn, &sdk).await.expect("fetch");
    assert_eq!(fetched["DATABASE_URL"], "postgres://app:s3cr3t-db@db.internal/weelo");
    assert!(fetched["WEELO_FCM_CREDENTIALS"].contains("service_account"));

    let mut vars: std::collections::HashMap<String, String> =
        [("DATABASE_URL".to_owned(), "postgres://postgres@127.0.0.1/from-env".to_owned())].into();
    vars.extend(fetched);
    let config = Config::from_vars(&vars).expect("config from secret");
    assert_eq!(config.database_url.expose(), "postgres://app:s3cr3t-db@db.internal/weelo");
    assert_eq!(config.redis_url.expose(), "rediss://cache.internal:6379/?protocol=resp3");
    assert_eq!(config.jwt_secret.expose(), "jwt-secret-from-secrets-manager-0123456789");
    assert!(config.fcm_credentials.is_some());
    // Nothing secret shows in the configuration's debug output (what a log line would print).
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cr3t-db") && !shown.contains("jwt-secret-from"), "{shown}");
}

#[tokio::test]
async fn missing_secret_is_a_clear_not_found() {
    let m = moto(None).await;
    let sdk = sdk(&m.url, "test", "test").await;
    let err = secrets::fetch_with("arn:aws:secretsmanager:ap-south-1:123456789012:secret:weelo/none", &sdk)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("weelo/none") && err.to_string().contains("not found"), "{err}");
}

#[tokio::test]
async fn secret_that_is_not_a_json_object_is_refused_without_echoing_it() {
    let m = moto(None).await;
    let sdk = sdk(&m.url, "test", "test").await;
    let arn = create(&sdk, "weelo/plain", "hunter2-not-json").await;
    let err = secrets::fetch_with(&arn, &sdk).await.unwrap_err();
    assert!(matches!(err, SecretsError::NotJsonObject { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let arn = create(&sdk, "weelo/array", r#"["a"]"#).await;
    assert!(matches!(secrets::fetch_with(&arn, &sdk).await.unwrap_err(), SecretsError::NotJsonObject { .. }));
    let arn = create(&sdk, "weelo/number", r#"{"DATABASE_URL": 5}"#).await;
    assert!(matches!(secrets::fetch_with(&arn, &sdk).await.unwrap_err(), SecretsError::NotJsonObject { .. }));
    let arn = create(&sdk, "weelo/unknown", r#"{"AWS_SECRET_ACCESS_KEY": "x"}"#).await;
    let err = secrets::fetch_with(&arn, &sdk).await.unwrap_err();
    assert!(matches!(err, SecretsError::UnknownKey { .. }), "{err:?}");
}

#[tokio::test]
async fn access_denied_names_the_missing_permission() {
    // moto checks IAM after the first 3 calls: create the secret and a user without permissions.
    let m = moto(Some(3)).await;
    let admin = sdk(&m.url, "test", "test").await;
    let arn = create(&admin, "weelo/locked", r#"{"WEELO_JWT_SECRET":"0123456789abcdef0123456789abcdef"}"#).await;
    let iam = aws_sdk_iam_free::create_user_keys(&m.url).await;
    let denied = sdk(&m.url, &iam.0, &iam.1).await;
    let err = secrets::fetch_with(&arn, &denied).await.unwrap_err();
    assert!(matches!(err, SecretsError::AccessDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("secretsmanager:GetSecretValue"), "{err}");
}

/// IAM calls through moto's query API with plain HTTP, to avoid pulling the IAM SDK crate in.
mod aws_sdk_iam_free {
    pub async fn create_user_keys(url: &str) -> (String, String) {
        let client = reqwest::Client::new();
        let call = |action: &str| {
            client
                .post(url)
                .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x")
                .form(&[("Action", action), ("UserName", "nobody"), ("Version", "2010-05-08")])
                .send()
        };
        call("CreateUser").await.expect("create user").error_for_status().expect("create user ok");
        let body = call("CreateAccessKey").await.expect("create key").text().await.expect("body");
        let pick = |tag: &str| {
            let start = body.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
            let end = body[start..].find('<').expect("end") + start;
            body[start..end].to_owned()
        };
        (pick("AccessKeyId"), pick("SecretAccessKey"))
    }
}
