//! warden
