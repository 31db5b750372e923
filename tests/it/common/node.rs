//! A node served over a fresh nats-server, with GitHub's API at a local stub:
//! what the tests of workspaces, pull requests and replies over NATS start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use warden::core::workspace::Secret;
use warden::{Warden, WardenConfig};
use warden_bridge::config::BridgeConfig;
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};

use super::nats::NatsServer;

/// The node `n1`, its bridge, and a client's [`Remote`].
pub struct GithubNode {
    /// Kept running for as long as the node.
    pub nats: NatsServer,
    pub warden: Warden,
    pub bridge: Bridge,
    pub remote: Remote,
}

/// Starts `n1` with its state under `root` (`tasks::config`), GitHub's API at
/// `api` with a stub token, callers' working directories allowed under
/// `root`; `warden` and `bridge` adjust the two configurations. Replies are
/// awaited up to `timeout`.
pub async fn github_node(
    root: &Path,
    api: String,
    timeout: Duration,
    warden: impl FnOnce(&mut WardenConfig),
    bridge: impl FnOnce(&mut BridgeConfig),
) -> GithubNode {
    let nats = NatsServer::start(&root.join("nats"));
    let mut wc = crate::tasks::config(root);
    wc.node = "n1".into();
    wc.workspace.github.api_base = api;
    wc.workspace.github.token = Some(Secret::new("ghp_stub"));
    warden(&mut wc);
    let node = Warden::start(wc).await.expect("warden starts");
    let mut config = BridgeConfig { workdir_roots: vec![root.to_path_buf()], ..BridgeConfig::default() };
    bridge(&mut config);
    let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    let served = Bridge::start(node.clone(), client, BridgeSettings { config, ..BridgeSettings::default() })
        .await
        .expect("bridge starts");
    let remote =
        Remote::new(warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects"), "warden", timeout);
    GithubNode { nats, warden: node, bridge: served, remote }
}

impl GithubNode {
    /// Provisions workspace `id` on a new `branch` of `repo` over NATS and
    /// writes `file` (with `text`) in it: a change to commit. Returns its path.
    pub async fn provision_with_a_change(
        &self,
        repo: &Path,
        id: &str,
        branch: &str,
        file: &str,
        text: &str,
    ) -> PathBuf {
        let provision = serde_json::json!({"repo": repo.display().to_string(), "id": id,
                                           "branch": {"from": "named", "name": branch}});
        let reply = self.remote.request("n1", "provision_workspace", &provision).await.expect("reply");
        assert!(reply.ok, "{reply:?}");
        let path = PathBuf::from(reply.result.expect("result")["workspace"]["path"].as_str().expect("path"));
        std::fs::write(path.join(file), text).expect("write");
        path
    }

    /// Stops taking commands, then the warden, then the bridge.
    pub async fn shutdown(mut self) {
        self.bridge.stop_commands().await;
        self.warden.shutdown().await;
        self.bridge.shutdown(Duration::from_secs(5)).await;
    }
}
