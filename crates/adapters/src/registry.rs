//! The set of adapters: the built-ins, overlaid with user manifests, looked up by name
//! or alias.

use std::sync::OnceLock;

use crate::adapter::Adapter;
use crate::manifest::{Manifest, parse_manifest_from};
use crate::{KNOWN_AGENTS, ManifestError};

/// The embedded manifests of the built-in adapters: (name, TOML text).
pub const BUILTIN_MANIFESTS: &[(&str, &str)] = &[
    ("claude", include_str!("../manifests/claude.toml")),
    ("codex", include_str!("../manifests/codex.toml")),
    ("gemini", include_str!("../manifests/gemini.toml")),
    ("aider", include_str!("../manifests/aider.toml")),
    ("pi", include_str!("../manifests/pi.toml")),
    ("shell", include_str!("../manifests/shell.toml")),
];

/// Adapters by name, built-ins first, then generic ones in the order given.
#[derive(Debug, Clone)]
pub struct Registry {
    adapters: Vec<Adapter>,
}

fn builtin_manifests() -> Result<Vec<Manifest>, ManifestError> {
    BUILTIN_MANIFESTS.iter().map(|(name, text)| parse_manifest_from(text, &format!("built-in {name}"))).collect()
}

impl Registry {
    /// The built-in adapters, compiled once per process.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Registry::with_manifests(&[])
                .expect("the built-in manifests compile (checked by the tests of warden-adapters)")
        })
    }

    /// The built-ins overlaid with user manifests, given as (origin, TOML text) — the
    /// origin (usually the path) names the text in errors. A manifest whose `name` or
    /// `extends` is a built-in name or alias overrides that adapter; any other defines a
    /// generic adapter. Later manifests override earlier ones.
    pub fn with_manifests(user: &[(&str, &str)]) -> Result<Registry, ManifestError> {
        let mut manifests = builtin_manifests()?;
        for (origin, text) in user {
            let m = parse_manifest_from(text, origin)?;
            let target = m.extends.as_deref().unwrap_or(&m.name).trim().to_ascii_lowercase();
            let base = manifests.iter().position(|b| b.name == target || b.aliases.contains(&target));
            match (base, &m.extends) {
                (Some(i), _) => {
                    let mut merged = m.overlay(&manifests[i]);
                    if m.extends.is_some() && m.name.trim().to_ascii_lowercase() != manifests[i].name {
                        // `extends` under a new name: a new adapter based on the built-in.
                        merged.name = m.name.clone();
                        merged.aliases = m.aliases.clone();
                        manifests.push(merged);
                    } else {
                        manifests[i] = merged;
                    }
                }
                (None, Some(ext)) => {
                    return Err(ManifestError::Invalid {
                        adapter: m.name.clone(),
                        message: format!(
                            "`extends = \"{ext}\"` names no adapter; built-ins: {}",
                            KNOWN_AGENTS.join(", ")
                        ),
                    });
                }
                (None, None) => manifests.push(m),
            }
        }
        Registry::from_complete(&manifests)
    }

    /// The registry of these complete manifests (overlays applied), in this order.
    pub(crate) fn from_complete(manifests: &[Manifest]) -> Result<Registry, ManifestError> {
        let mut adapters: Vec<Adapter> = Vec::with_capacity(manifests.len());
        for m in manifests {
            let a = Adapter::from_manifest(m)?;
            for n in std::iter::once(&a.name).chain(&a.aliases) {
                if let Some(other) = adapters.iter().find(|b| b.name == *n || b.aliases.contains(n)) {
                    return Err(ManifestError::Invalid {
                        adapter: a.name.clone(),
                        message: format!("the name `{n}` is already used by adapter `{}`", other.name),
                    });
                }
            }
            adapters.push(a);
        }
        Ok(Registry { adapters })
    }

    /// The adapter called `name` (canonical name or alias, any case).
    pub fn get(&self, name: &str) -> Option<&Adapter> {
        let n = name.trim().to_ascii_lowercase();
        self.adapters.iter().find(|a| a.name == n || a.aliases.contains(&n))
    }

    /// Every adapter, built-ins first.
    pub fn adapters(&self) -> &[Adapter] {
        &self.adapters
    }

    /// The adapter started when no agent is named and none can be chosen (manifest
    /// `fallback = true`; the shell among the built-ins). The first one marked wins:
    /// built-ins come first, so an adapter that `extends` the shell under a new name
    /// does not take the role over.
    pub fn fallback(&self) -> Option<&Adapter> {
        self.adapters.iter().find(|a| a.fallback)
    }

    /// Canonical names, built-ins first.
    pub fn names(&self) -> Vec<&str> {
        self.adapters.iter().map(|a| a.name.as_str()).collect()
    }
}
