//! Input at the edge of provisioning (issue 14, finding 2): bad base names
//! are `bad_request` before any git call, never a panic or `internal`; a
//! base the repository lacks is named once; failed records do not pile up.

use super::*;
use warden::core::workspace::WorkspaceErrorCode;
use warden_bridge::protocol::{ErrorCode, WireError};

fn clone_with_base(remote: &Path, id: &str, base: &str) -> ProvisionSpec {
    ProvisionSpec::Clone(CloneSpec {
        id: Some(id.into()),
        source: s(remote),
        branch: BranchSpec::Named { name: "feat/x".into() },
        base: Some(base.into()),
        depth: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_base_names_are_bad_requests_and_leave_no_record() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    for (i, base) in ["ma\u{0}in", "a~1", "x\u{1b}[2J", "a..b", "-main", "HEAD", "a b"].iter().enumerate() {
        let id = format!("bad{i}");
        let err = w.provision_workspace(clone_with_base(&remote, &id, base)).await.expect_err(base);
        assert_eq!(err.code(), WorkspaceErrorCode::InvalidBranch, "{base:?}: {err}");
        assert_eq!(WireError::from(err).code, ErrorCode::BadRequest, "{base:?}");
        // Nothing was recorded: the id is free, and the provision with a good base works.
        assert!(w.workspace(&wid(&id)).await.is_err(), "{base:?} left a record");
    }
    let ws = w.provision_workspace(clone_with_base(&remote, "bad0", "main")).await?;
    assert_eq!(ws.state, WorkspaceState::Ready);
    // A worktree's base is checked the same way.
    let err = w.provision_workspace(worktree_spec("bad0", "wt", "feat/wt", Some("ma\u{0}in"))).await.expect_err("nul");
    assert_eq!(err.code(), WorkspaceErrorCode::InvalidBranch, "{err}");
    // A repository path with a control character is refused too.
    let mut spec = clone_with_base(&remote, "src", "main");
    if let ProvisionSpec::Clone(c) = &mut spec {
        c.source.push('\u{0}');
    }
    let err = w.provision_workspace(spec).await.expect_err("nul in repo");
    assert_eq!(WireError::from(err).code, ErrorCode::BadRequest);
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_base_is_named_once_and_failed_records_are_kept_by_retention() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start_with(tmp.path(), |c| c.workspace.retention.keep = 3).await;
    for i in 0..6 {
        let err = w.provision_workspace(clone_with_base(&remote, &format!("f{i}"), "nosuch")).await.expect_err("base");
        let msg = err.to_string();
        assert_eq!(err.code(), WorkspaceErrorCode::RefNotFound, "{msg}");
        assert!(!msg.contains("not found not found"), "{msg}");
        assert!(msg.contains("nosuch"), "{msg}");
        let wire = WireError::from(err);
        assert_eq!(wire.code, ErrorCode::BadRequest, "{wire:?}");
    }
    // The same through the `git` program (a shallow clone).
    let mut shallow = clone_with_base(&remote, "shallow", "nosuch");
    if let ProvisionSpec::Clone(c) = &mut shallow {
        c.depth = Some(1);
    }
    let err = w.provision_workspace(shallow).await.expect_err("base");
    assert_eq!(err.code(), WorkspaceErrorCode::RefNotFound, "{err}");
    assert_eq!(WireError::from(err).code, ErrorCode::BadRequest);
    let registry = Registry::open(&tmp.path().join("state"))?;
    let failed: Vec<String> =
        registry.list()?.into_iter().filter(|r| r.state == WorkspaceState::Failed).map(|r| r.id.to_string()).collect();
    assert_eq!(failed.len(), 3, "the newest three failed records are kept: {failed:?}");
    assert!(failed.contains(&"f5".to_string()), "{failed:?}");
    w.shutdown().await;
    Ok(())
}
