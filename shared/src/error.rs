//! The one error type service functions return. A `Rejected` error is the caller's fault and
//! carries the stable `code` the HTTP edge turns into an RFC 7807 problem; `Internal` is ours,
//! logged in full and answered with a bare 500.

use crate::domain::FieldError;

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra members of the problem body (e.g. `activeBroadcastId`, `attemptsLeft`).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} {}: {}", .0.status, .0.code, .0.detail)]
    Rejected(Rejection),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn rejected(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Error::Rejected(Rejection {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: serde_json::Map::new(),
            retry_after_secs: None,
        })
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        let mut e = Self::rejected(422, "VALIDATION_FAILED", detail);
        if let Error::Rejected(r) = &mut e {
            r.errors = errors;
        }
        e
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        if let Error::Rejected(r) = &mut self {
            r.extra.insert(key.to_owned(), serde_json::to_value(value).unwrap_or(serde_json::Value::Null));
        }
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        if let Error::Rejected(r) = &mut self {
            r.retry_after_secs = Some(secs.max(1));
            r.extra.insert("retryAfterSeconds".into(), secs.max(1).into());
        }
        self
    }

    /// The stable code, for tests and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Rejected(r) => r.code,
            Error::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // Text PostgreSQL cannot store (a NUL byte) is the caller's input, not our failure.
        if let sqlx::Error::Database(db) = &e
            && matches!(db.code().as_deref(), Some("22021") | Some("22P05"))
        {
            return Error::rejected(422, "VALIDATION_FAILED", "text fields must not contain NUL characters");
        }
        // PostgreSQL restarting or unreachable is an outage to retry through, not a bug: 503.
        let unavailable = match &e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                true
            }
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03")
            }
            _ => false,
        };
        if unavailable {
            tracing::error!(error = %e, "PostgreSQL unavailable");
            return unavailable_error();
        }
        Error::Internal(e.into())
    }
}

fn unavailable_error() -> Error {
    Error::unavailable()
}

impl Error {
    /// PostgreSQL or Redis is down or restarting: the one 503 every outage answers, with
    /// `Retry-After`, so clients retry through it with their idempotency keys.
    pub fn unavailable() -> Self {
        Error::rejected(503, "DEPENDENCY_UNAVAILABLE", "a backing service is unavailable; retry shortly").retry_after(1)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        // Redis restarting (LOADING), unreachable or dropping connections: an outage, 503.
        if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.code() == Some("LOADING") {
            tracing::error!(error = %e, "Redis unavailable");
            return unavailable_error();
        }
        Error::Internal(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_503_and_bugs_stay_internal() {
        assert_eq!(Error::from(sqlx::Error::PoolTimedOut).code(), "DEPENDENCY_UNAVAILABLE");
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(Error::from(sqlx::Error::Io(io)).code(), "DEPENDENCY_UNAVAILABLE");
        assert_eq!(Error::from(sqlx::Error::RowNotFound).code(), "INTERNAL");
        let dropped = redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe"));
        assert_eq!(Error::from(dropped).code(), "DEPENDENCY_UNAVAILABLE");
        match Error::from(sqlx::Error::PoolClosed) {
            Error::Rejected(r) => assert_eq!((r.status, r.retry_after_secs), (503, Some(1))),
            Error::Internal(e) => panic!("{e}"),
        }
    }
}
