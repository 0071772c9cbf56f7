//! Who a user is. One phone may hold one account per role.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "user_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Transporter,
    Driver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Transporter, Role::Driver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Transporter => "transporter",
            Role::Driver => "driver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| "must be one of customer, transporter, driver, admin".to_owned())
    }
}
