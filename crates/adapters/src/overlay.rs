//! Rule overlays: files a user drops into `<config>/adapters/<agent>.d/*.toml` to fix
//! or add rules of an adapter without a rebuild. Each file has the user-manifest form
//! (`docs/ADAPTERS.md`) without `name` (the directory names the agent): its rules
//! replace the adapter's rules with the same `id` or are added, `disable_rules` drops
//! rules, and any other field given replaces the adapter's. Files apply in name order;
//! every rule remembers the file it came from ([`crate::Rule::overlay`]), which
//! `warden adapters explain` prints.
//!
//! Pure: the caller reads the directory (and watches it) and passes the texts in.

use crate::manifest::{Manifest, parse_manifest_from};
use crate::{ManifestError, Registry};

/// One overlay file: the agent (from its directory), where it is (for errors and
/// provenance), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayFile {
    /// The adapter it applies to (`claude` for `claude.d/`), name or alias.
    pub agent: String,
    /// Its path, as shown in errors and by `adapters explain`.
    pub origin: String,
    /// Its TOML text.
    pub text: String,
}

/// Parses an overlay: a manifest whose `name` may be left out.
pub fn parse_overlay(file: &OverlayFile) -> Result<Manifest, ManifestError> {
    let mut table: toml::Table = toml::from_str(&file.text).map_err(|e| ManifestError::Toml {
        origin: file.origin.clone(),
        message: e.to_string().trim_end().to_string(),
    })?;
    table.entry("name").or_insert_with(|| toml::Value::String(file.agent.clone()));
    let text = toml::to_string(&table)
        .map_err(|e| ManifestError::Toml { origin: file.origin.clone(), message: e.to_string() })?;
    let mut m = parse_manifest_from(&text, &file.origin)?;
    for rule in &mut m.rules {
        rule.overlay = Some(file.origin.clone());
    }
    Ok(m)
}

impl Registry {
    /// This registry with `overlays` laid over its adapters, in the order given. An
    /// overlay for an agent this registry does not know is an error, as is one that
    /// leaves its adapter invalid; the caller keeps the registry it had.
    pub fn overlaid(&self, overlays: &[OverlayFile]) -> Result<Registry, ManifestError> {
        let mut manifests: Vec<Manifest> = self.adapters().iter().map(|a| a.manifest.clone()).collect();
        for file in overlays {
            let over = parse_overlay(file)?;
            let agent = file.agent.trim().to_ascii_lowercase();
            let Some(i) = manifests.iter().position(|m| m.name == agent || m.aliases.contains(&agent)) else {
                return Err(ManifestError::Invalid {
                    adapter: agent,
                    message: format!("{}: no adapter has this name; overlays go in <agent>.d/", file.origin),
                });
            };
            let mut merged = over.overlay(&manifests[i]);
            merged.name = manifests[i].name.clone();
            manifests[i] = merged;
        }
        Registry::from_complete(&manifests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScreenView;

    fn file(agent: &str, origin: &str, text: &str) -> OverlayFile {
        OverlayFile { agent: agent.into(), origin: origin.into(), text: text.into() }
    }

    #[test]
    fn an_overlay_replaces_and_adds_rules_by_id_and_names_itself() {
        let screen = "  Frobnicate the widget? [y/N]\n";
        let base = Registry::builtin();
        assert_eq!(base.get("claude").expect("claude").classify(&ScreenView::text(screen)).provenance, None);
        let over = file(
            "claude-code",
            "/cfg/adapters/claude.d/10-frob.toml",
            r#"[[rules]]
id = "frob"
state = "blocking"
kind = "permission"
pattern = 'Frobnicate the widget\?'
"#,
        );
        let r = base.overlaid(std::slice::from_ref(&over)).expect("overlaid");
        let claude = r.get("claude").expect("claude");
        let v = claude.classify(&ScreenView::text(screen));
        assert_eq!(v.provenance.as_ref().map(|p| p.rule.as_str()), Some("frob"));
        assert_eq!(claude.rule("frob").and_then(|r| r.overlay.as_deref()), Some("/cfg/adapters/claude.d/10-frob.toml"));
        assert_eq!(claude.rule("trust-folder").and_then(|r| r.overlay.as_deref()), None, "built-in rules stay");
        assert_eq!(r.get("codex").expect("codex").rules.len(), base.get("codex").expect("codex").rules.len());
        // A later overlay replaces the rule by id.
        let later = file("claude", "/cfg/adapters/claude.d/20-off.toml", "disable_rules = [\"frob\"]\n");
        let r = base.overlaid(&[over, later]).expect("overlaid");
        assert!(r.get("claude").expect("claude").rule("frob").is_none());
    }

    #[test]
    fn bad_overlays_are_typed_errors_naming_the_file() {
        let base = Registry::builtin();
        let e = base.overlaid(&[file("nope", "/x/nope.d/a.toml", "")]).expect_err("unknown agent");
        assert!(e.to_string().contains("/x/nope.d/a.toml"), "{e}");
        let e = base
            .overlaid(&[file(
                "claude",
                "/x/claude.d/a.toml",
                "[[rules]]\nid = \"x\"\nstate = \"ready\"\npattern = '('\n",
            )])
            .expect_err("bad regex");
        assert!(e.to_string().contains("rule `x`"), "{e}");
        let e = base.overlaid(&[file("claude", "/x/claude.d/b.toml", "rules = 3")]).expect_err("bad shape");
        assert!(e.to_string().contains("/x/claude.d/b.toml"), "{e}");
    }
}
