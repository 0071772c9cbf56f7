//! The HTTP edge of errors: every refusal leaves as an RFC 7807 `application/problem+json` body
//! with a stable `code`. Service errors, poem's own errors (parse, auth, 404, 405) and panics all
//! pass through here, so no client ever sees another error shape.

use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object};
use weelo_shared::domain::FieldError;
use weelo_shared::error::{Error, Rejection};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// RFC 7807 problem details. Besides the standard members, `code` is stable and machine-readable;
/// some problems carry extension members listed below.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI naming the problem type.
    #[oai(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `OTP_INVALID`, `VALIDATION_FAILED`.
    pub code: String,
    /// Per-field errors (with `VALIDATION_FAILED`).
    pub errors: Option<Vec<ProblemField>>,
    /// With `OTP_INVALID`: attempts left on the current code.
    pub attempts_left: Option<i32>,
    /// With 429s: seconds to wait (also in the `Retry-After` header).
    pub retry_after_seconds: Option<u64>,
    /// With `ACTIVE_BROADCAST_EXISTS`: the open broadcast.
    pub active_broadcast_id: Option<uuid::Uuid>,
    /// With `BROADCAST_CLOSED` and similar: the current state of the resource.
    pub state: Option<String>,
}

#[derive(Object, Debug, Clone)]
pub struct ProblemField {
    /// The request field, e.g. `phone` or `vehicles[2].count`.
    pub field: String,
    pub message: String,
}

fn title(status: u16) -> &'static str {
    StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

/// Builds the problem response for a rejection.
pub fn rejection_response(r: &Rejection) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(
        "type".into(),
        format!("https://docs.weelo.app/problems/{}", r.code.to_lowercase().replace('_', "-")).into(),
    );
    body.insert("title".into(), title(r.status).into());
    body.insert("status".into(), r.status.into());
    body.insert("detail".into(), r.detail.clone().into());
    body.insert("code".into(), r.code.into());
    if !r.errors.is_empty() {
        body.insert("errors".into(), serde_json::to_value(&r.errors).unwrap_or_default());
    }
    for (k, v) in &r.extra {
        body.insert(k.clone(), v.clone());
    }
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(PROBLEM_JSON)
        .body(serde_json::Value::Object(body).to_string());
    if let Some(secs) = r.retry_after_secs {
        resp.headers_mut().insert("retry-after", secs.into());
    }
    resp
}

pub fn error_response(err: &Error) -> Response {
    match err {
        Error::Rejected(r) => rejection_response(r),
        Error::Internal(e) => {
            tracing::error!(error = ?e, "internal error");
            rejection_response(&internal())
        }
    }
}

fn internal() -> Rejection {
    Rejection {
        status: 500,
        code: "INTERNAL",
        detail: "something went wrong on our side; it has been logged".into(),
        errors: Vec::new(),
        extra: serde_json::Map::new(),
        retry_after_secs: None,
    }
}

/// The error responses one operation documents: (status, description naming the codes).
pub trait ErrorSet: Send + Sync + 'static {
    const RESPONSES: &'static [(u16, &'static str)];
}

/// Declares an [`ErrorSet`]; 500 `INTERNAL` is added to every set.
#[macro_export]
macro_rules! error_set {
    ($name:ident { $($status:literal => $desc:literal),* $(,)? }) => {
        pub struct $name;
        impl $crate::problem::ErrorSet for $name {
            const RESPONSES: &'static [(u16, &'static str)] = &[
                $(($status, $desc),)*
                (500, "INTERNAL: an unexpected error (logged with the request id)"),
            ];
        }
    };
}

/// An error from a handler, documented in the spec by its operation's [`ErrorSet`].
pub struct ApiError<E: ErrorSet>(pub Error, PhantomData<E>);

impl<E: ErrorSet> From<Error> for ApiError<E> {
    fn from(e: Error) -> Self {
        Self(e, PhantomData)
    }
}

impl<E: ErrorSet> From<anyhow::Error> for ApiError<E> {
    fn from(e: anyhow::Error) -> Self {
        Self(Error::Internal(e), PhantomData)
    }
}

impl<E: ErrorSet> From<sqlx::Error> for ApiError<E> {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into(), PhantomData)
    }
}

impl<E: ErrorSet> IntoResponse for ApiError<E> {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

impl<E: ErrorSet> From<ApiError<E>> for poem::Error {
    fn from(e: ApiError<E>) -> Self {
        poem::Error::from_response(e.into_response())
    }
}

impl<E: ErrorSet> ApiResponse for ApiError<E> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: E::RESPONSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: MetaSchemaRef::Reference("Problem".into()),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// Turns any error poem raised itself (bad JSON, missing token, unknown route) into a problem.
pub async fn from_poem_error(err: poem::Error) -> Response {
    use poem_openapi::error::{
        AuthorizationError, ParseMultipartError, ParseParamError, ParsePathError, ParseRequestPayloadError,
    };
    let field = |f: &str, m: String| Error::validation(vec![FieldError::new(f, m)]);
    let mapped = if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        Some(field("body", e.reason.clone()))
    } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
        Some(field(e.name, e.reason.clone()))
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        Some(field("path", e.reason.clone()))
    } else if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        Some(field("body", e.reason.clone()))
    } else if err.is::<AuthorizationError>() {
        Some(Error::rejected(401, "UNAUTHORIZED", "a bearer access token is required"))
    } else {
        None
    };
    if let Some(e) = mapped {
        return error_response(&e);
    }
    let resp = err.into_response();
    if resp.content_type().is_some_and(|c| c.starts_with(PROBLEM_JSON)) {
        return resp;
    }
    let status = resp.status().as_u16();
    let e = match status {
        404 => Error::rejected(404, "NOT_FOUND", "no such resource"),
        405 => Error::rejected(405, "METHOD_NOT_ALLOWED", "this method is not allowed here"),
        413 => Error::rejected(413, "PAYLOAD_TOO_LARGE", "the request body is too large"),
        // A body that is not JSON is invalid input like any other (documented as a 422).
        415 => Error::field("body", "send a JSON body with Content-Type: application/json"),
        s if s >= 500 => {
            tracing::error!(status = s, "unhandled server error");
            Error::Rejected(internal())
        }
        s => Error::rejected(s, "BAD_REQUEST", "the request could not be understood"),
    };
    error_response(&e)
}
