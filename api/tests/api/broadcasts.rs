//! Broadcast API behaviour.
