//! Ids as their own types where several sit side by side in one call (`accept(transporter,
//! broadcast, line, vehicle, driver)`): a broadcast id cannot be passed where a vehicle id goes.
//! Each is a UUID on the wire and in PostgreSQL; handlers wrap the path or token id once.

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// A user of any role: customer, transporter, driver or admin.
    UserId,
    BroadcastId,
    TruckRequestId,
    VehicleId,
    TripId,
    HoldId,
}
