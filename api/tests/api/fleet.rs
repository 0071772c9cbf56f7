//! Fleet API behaviour.
