//! Identifiers: sessions are named by UUIDs (v7, so they sort by creation time).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The identity of one agent session, unique across nodes and restarts of warden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A fresh id (UUID v7: time-ordered, random in the low bits).
    pub fn new() -> Self {
        SessionId(Uuid::now_v7())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for SessionId {
    fn from(u: Uuid) -> Self {
        SessionId(u)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// A session id that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session id `{0}`: expected a UUID such as 0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f")]
pub struct InvalidSessionId(pub String);

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(SessionId).map_err(|_| InvalidSessionId(s.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = SessionId::new();
        let text = id.to_string();
        assert_eq!(text.parse::<SessionId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).expect("parses"), id);
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert!(a < b);
    }

    #[test]
    fn bad_ids_are_rejected_with_a_bounded_message() {
        let long = "x".repeat(10_000);
        let err = long.parse::<SessionId>().expect_err("not a uuid");
        assert!(err.to_string().len() < 200);
        assert!("".parse::<SessionId>().is_err());
    }
}
