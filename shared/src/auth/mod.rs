//! Phone-OTP sign-in, access tokens (JWT) and rotating refresh tokens.

pub mod jwt;
pub mod otp;
pub mod sessions;
pub mod sms;

pub use jwt::{Claims, TokenSigner};
pub use sessions::{AuthService, Delivery, TokenPair, UserRecord};
pub use sms::{MemorySms, SmsSender};
