//! Redaction of encoded secrets (issue 14, finding 8): a GitHub API that
//! echoes the token back — plain, base64 (standard and URL-safe, with and
//! without padding, inside a Basic credential) and percent-encoded — in an
//! error body; none of it reaches the CLI's JSON output or stderr.

use super::*;

const TOKEN: &str = "ghp_EchoedBack+/Token0123456789";

/// Every form of the token the stub echoes.
fn forms() -> Vec<String> {
    let mut forms = vec![TOKEN.to_string(), TOKEN.replace('+', "%2B").replace('/', "%2F")];
    for data in [TOKEN.to_string(), format!("x-access-token:{TOKEN}"), format!("user:{TOKEN}")] {
        let standard = servers::b64(data.as_bytes());
        let url_safe = standard.replace('+', "-").replace('/', "_");
        for f in [standard.trim_end_matches('=').to_string(), url_safe.trim_end_matches('=').to_string(), url_safe] {
            forms.push(f);
        }
        forms.push(standard);
    }
    forms
}

/// `warden workspace provision` of a clone of a fresh bare remote in `root`
/// (workspace `id`, branch `feat/<id>`), a new file, then `warden workspace
/// finalize --push` with a pull request against the GitHub stub at `api`,
/// with `GITHUB_TOKEN` set to [`TOKEN`] and debug logging: its output.
fn provision_and_finalize_through_the_cli(
    root: &Path,
    id: &str,
    api: &str,
) -> Result<std::process::Output, Box<dyn std::error::Error>> {
    let remote = bare_remote(root);
    let state = root.join("state");
    let branch = format!("feat/{id}");
    let provisioned = ok_json(cli(&state).args([
        "workspace",
        "provision",
        "--repo",
        &s(&remote),
        "--branch",
        &branch,
        "--id",
        id,
        "--json",
    ]))?;
    let path = PathBuf::from(provisioned["path"].as_str().ok_or("path")?);
    fs::write(path.join("f.txt"), "f\n")?;
    Ok(cli(&state)
        .args(["workspace", "finalize", id, "-m", "add f", "--push", "--pr-title", "t", "--github-repo", "o/r"])
        .args(["--github-api", api, "--json"])
        .env("GITHUB_TOKEN", TOKEN)
        .env("WARDEN_LOG", "debug")
        .env("WARDEN_AUTHOR_NAME", "T")
        .env("WARDEN_AUTHOR_EMAIL", "t@example.com")
        .output()?)
}

#[test]
fn a_token_echoed_in_any_encoding_by_the_api_never_reaches_the_cli() -> TestResult {
    let forms = forms();
    let body = serde_json::json!({
        "message": format!("Bad credentials: {}", forms.join(" ")),
        "errors": forms.iter().map(|f| serde_json::json!({"message": format!("seen {f}")})).collect::<Vec<_>>(),
    })
    .to_string();
    let body: &'static str = Box::leak(body.into_boxed_str());
    let (api, seen) = servers::github_stub(vec![(401, body)]);
    let tmp = tempfile::tempdir()?;
    let out = provision_and_finalize_through_the_cli(tmp.path(), "r", &api)?;
    let request = seen.recv_timeout(Duration::from_secs(20))?;
    assert_eq!(request.auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()), "the stub got the token");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("github") && stdout.contains("***"), "the failed step is reported: {stdout}");
    for form in &forms {
        // The characters only the token determines (the rest is the
        // encoding of what surrounds it).
        let core: String = form.chars().skip(form.len() / 2).take(8).collect();
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!text.contains(form.as_str()), "{form} reached {name}: {text}");
            assert!(!text.contains(&core), "part of {form} ({core}) reached {name}: {text}");
        }
    }
    Ok(())
}

/// A task whose repository URL carries a password (`https://user:pass@…`)
/// is refused when it is created: the password reaches neither the reply
/// nor the task's record on disk (a workspace refuses such a URL, but the
/// task kept it in its spec, and the `create_task` reply echoed it).
#[test]
fn a_password_in_a_task_repository_url_is_refused_and_kept_nowhere() -> TestResult {
    const PASSWORD: &str = "RepoPassword0123456789";
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().join("state");
    let mut node = crate::common::binary::serve(&state, &["--allow-agent", "shell"]);
    let out = cli(&state)
        .args(["task", "create", "--agent", "shell", "--task", "echo hi", "--repo"])
        .arg(format!("https://alice:{PASSWORD}@127.0.0.1:1/r.git"))
        .output()?;
    let listed = cli(&state).args(["task", "list", "--json"]).output()?;
    node.terminate(TIMEOUT);
    let text = [&out.stdout, &out.stderr, &listed.stdout, &listed.stderr]
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(out.status.code(), Some(1), "refused: {text}");
    assert!(text.contains("credentials in the repository URL"), "the refusal says why: {text}");
    assert!(!text.contains(PASSWORD), "the password reached the CLI: {text}");
    let hits = grep_tree(&state, PASSWORD);
    assert!(hits.is_empty(), "the password is on disk: {hits:?}");
    Ok(())
}

/// Credentials in the NATS URL (`nats://user:pass@host`, `nats://token@host`)
/// are used to authenticate and never reach the log, at any level: the NATS
/// client logged its server address at debug level as a parsed URL
/// (`password: Some("…")`), which no URL redaction recognises, and ignored
/// the credentials.
#[test]
fn nats_url_credentials_authenticate_and_never_reach_the_log() {
    use crate::common::nats::NatsServer;
    const TOKEN: &str = "NatsUrlToken0123456789";
    const PASSWORD: &str = "NatsUrlPassword0123456789";
    let tmp = tempfile::tempdir().expect("tempdir");
    let open = NatsServer::start(&tmp.path().join("open"));
    let locked = NatsServer::start_with_token(&tmp.path().join("locked"), TOKEN);
    for (url, secret) in [
        (format!("nats://alice:{PASSWORD}@127.0.0.1:{}", open.port), PASSWORD),
        (format!("nats://{TOKEN}@127.0.0.1:{}", locked.port), TOKEN),
    ] {
        let state = tmp.path().join(format!("state-{}", url.len()));
        let mut cmd = cli(&state);
        cmd.args(["serve", "--nats", &url, "--node", "n1"]).env("WARDEN_LOG", "trace");
        let mut node = crate::common::nats::Proc::spawn(cmd);
        let seen = node.wait_stderr("serving on", TIMEOUT);
        node.terminate(TIMEOUT);
        let log = node.drain_stderr().join("\n");
        assert!(seen.contains("serving on") && log.contains("async_nats"), "{url}: served, traced: {seen}\n{log}");
        assert!(!log.contains(secret) && !seen.contains(secret), "{url}: the secret reached the log:\n{log}");
    }
}

/// A task whose repository URL carries a token as its user
/// (`https://<token>@host/…`, no colon) or in its query string
/// (`?access_token=…`) is refused when it is created, like one with a
/// password: the token reaches neither the reply, the task list nor the
/// disk (only a `user:password` userinfo was refused; the token stayed in
/// the `create_task` reply, the task's record and `task list`).
#[test]
fn a_token_as_the_user_or_query_of_a_task_repository_url_is_refused_and_kept_nowhere() -> TestResult {
    const TOKEN: &str = "ghp_UserinfoToken0123456789abcdef";
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().join("state");
    let mut node = crate::common::binary::serve(&state, &["--allow-agent", "shell"]);
    let mut texts = Vec::new();
    for url in [format!("https://{TOKEN}@127.0.0.1:1/r.git"), format!("https://127.0.0.1:1/r.git?access_token={TOKEN}")]
    {
        let out = cli(&state)
            .args(["task", "create", "--agent", "shell", "--task", "echo hi", "--repo"])
            .arg(&url)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url} refused: {text}");
        assert!(text.contains("credentials in the repository URL"), "the refusal says why: {text}");
        texts.push(text);
    }
    let listed = cli(&state).args(["task", "list", "--json"]).output()?;
    node.terminate(TIMEOUT);
    texts.push(String::from_utf8_lossy(&listed.stdout).into_owned() + &String::from_utf8_lossy(&listed.stderr));
    for text in &texts {
        assert!(!text.contains(TOKEN), "the token reached the CLI: {text}");
    }
    let hits = grep_tree(&state, TOKEN);
    assert!(hits.is_empty(), "the token is on disk: {hits:?}");
    Ok(())
}

/// Provisioning a clone of `http://<token>@host/…` is refused before any
/// `git` runs: the token reaches no git argv (readable by any local user
/// in /proc), no `.git/config`, no error and no event (the URL went to
/// `git clone` unchanged, and git wrote it into the clone's config).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_as_the_user_of_a_clone_url_is_refused_before_git_sees_it() -> TestResult {
    const TOKEN: &str = "tok_UserinfoClone_Zq8XvP2mN";
    let tmp = tempfile::tempdir()?;
    let _remote = bare_remote(tmp.path());
    let counters = Arc::new(servers::Counters::default());
    let port = servers::git_http_server(tmp.path().to_path_buf(), TOKEN, Arc::clone(&counters));
    let (wrapper, argv_log) = argv_logging_git(tmp.path())?;
    let w = start_with(tmp.path(), |c| {
        c.workspace.git.program = wrapper.clone();
        c.workspace.git.token = Some(Secret::new(TOKEN));
    })
    .await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    for (id, source) in [
        ("user", format!("http://{TOKEN}@127.0.0.1:{port}/remote.git")),
        ("query", format!("http://127.0.0.1:{port}/remote.git?private_token={TOKEN}")),
    ] {
        let spec = ProvisionSpec::Clone(CloneSpec {
            id: Some(id.into()),
            source,
            branch: BranchSpec::Named { name: "feat/u".into() },
            base: None,
            depth: None,
        });
        let err = w.provision_workspace(spec).await.expect_err("credentials in the URL are refused");
        assert!(matches!(err, WorkspaceError::Config { .. }), "a typed refusal: {err:?}");
        assert!(!err.to_string().contains(TOKEN), "the refusal echoes the token: {err}");
    }
    let events = drain(&mut sub).await;
    w.shutdown().await;
    let events_json = events.iter().map(|e| e.to_json()).collect::<Vec<_>>().join("\n");
    assert!(!events_json.contains(TOKEN), "the token reached an event: {events_json}");
    let argv = fs::read_to_string(&argv_log).unwrap_or_default();
    assert!(argv.is_empty(), "git ran: {argv}");
    assert_eq!(counters.authorized.load(Ordering::SeqCst) + counters.refused.load(Ordering::SeqCst), 0);
    let hits = grep_tree(tmp.path(), TOKEN);
    assert!(hits.is_empty(), "the token is on disk: {hits:?}");
    Ok(())
}

/// An `ssh://git@host/…` or scp-like `git@host:…` source is not refused:
/// an ssh user name is not a secret (git fails to reach the host instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_user_name_in_a_clone_url_is_not_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let w = start_with(tmp.path(), |c| {
        c.workspace.git.extra_env.push(("GIT_SSH_COMMAND".into(), "false".into()));
    })
    .await;
    for (id, source) in [("ssh", "ssh://git@127.0.0.1:1/o/r.git"), ("scp", "git@127.0.0.1:o/r.git")] {
        let spec = ProvisionSpec::Clone(CloneSpec {
            id: Some(id.into()),
            source: source.into(),
            branch: BranchSpec::Named { name: "feat/s".into() },
            base: None,
            depth: None,
        });
        let err = w.provision_workspace(spec).await.expect_err("no ssh server");
        assert!(matches!(err, WorkspaceError::Network { .. }), "{source}: git ran and failed: {err:?}");
    }
    w.shutdown().await;
    Ok(())
}

/// A token near the end of the first 300 characters of an error body is
/// still redacted: the body was cut to 300 characters before redaction, so
/// the start of a token the cut split went out whole (`ghp_EchoedBa`), to
/// the CLI, the `workspace_failed` event and the stored error.
#[test]
fn a_token_cut_by_the_error_body_limit_is_still_redacted() -> TestResult {
    let body: &'static str = Box::leak(format!("{}{TOKEN} trailing", "x".repeat(288)).into_boxed_str());
    let (api, seen) = servers::github_stub(vec![(502, body)]);
    let tmp = tempfile::tempdir()?;
    let out = provision_and_finalize_through_the_cli(tmp.path(), "c", &api)?;
    seen.recv_timeout(Duration::from_secs(20))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("502"), "the failed step is reported: {text}");
    let start = &TOKEN[..12];
    assert!(!text.contains(start), "the start of the token reached the CLI: {text}");
    let hits = grep_tree(&tmp.path().join("state"), start);
    assert!(hits.is_empty(), "the start of the token is on disk: {hits:?}");
    Ok(())
}

/// git's tracing, asked for by the node's environment (`GIT_TRACE2*`) or
/// by the user's git config (`trace2.normalTarget`, `trace2.envVars`), is
/// off in every git child: trace2 logged the environment variables it was
/// told to, the token's among them (only the `GIT_TRACE`, `GIT_TRACE_CURL`,
/// … family was removed).
#[test]
fn git_tracing_from_the_environment_or_config_never_logs_the_token() -> TestResult {
    const TOKEN: &str = "tok_Trace2Token_Zq8XvP2mN";
    let tmp = tempfile::tempdir()?;
    let _remote = bare_remote(tmp.path());
    let counters = Arc::new(servers::Counters::default());
    let port = servers::git_http_server(tmp.path().to_path_buf(), TOKEN, Arc::clone(&counters));
    let traces = tmp.path().join("traces");
    let home = tmp.path().join("home");
    fs::create_dir_all(&traces)?;
    fs::create_dir_all(&home)?;
    fs::write(
        home.join(".gitconfig"),
        format!(
            "[trace2]\n\tnormalTarget = {0}/config-normal\n\tperfTarget = {0}/config-perf\n\tenvVars = WARDEN_GIT_TOKEN\n",
            traces.display()
        ),
    )?;
    let state = tmp.path().join("state");
    let url = format!("http://127.0.0.1:{port}/remote.git");
    let out = cli(&state)
        .args(["workspace", "provision", "--repo", &url, "--branch", "feat/t", "--id", "t", "--json"])
        .env("WARDEN_GIT_TOKEN", TOKEN)
        .env("HOME", &home)
        .env("GIT_TRACE2", traces.join("env-normal"))
        .env("GIT_TRACE2_EVENT", traces.join("env-event"))
        .env("GIT_TRACE2_PERF", traces.join("env-perf"))
        .env("GIT_TRACE2_ENV_VARS", "WARDEN_GIT_TOKEN")
        .env("GIT_TRACE_SETUP", traces.join("env-setup"))
        .output()?;
    assert!(out.status.success(), "cloned: {}", String::from_utf8_lossy(&out.stderr));
    assert!(counters.authorized.load(Ordering::SeqCst) >= 1, "the token was used");
    let basic = servers::b64(format!("x-access-token:{TOKEN}").as_bytes());
    for needle in [TOKEN, basic.as_str()] {
        let hits = grep_tree(tmp.path(), needle);
        assert!(hits.is_empty(), "the token is on disk: {hits:?}");
    }
    let written: Vec<_> = fs::read_dir(&traces)?.flatten().map(|e| e.file_name()).collect();
    assert!(written.is_empty(), "git traced: {written:?}");
    Ok(())
}

/// A workspace whose remote URL (set outside warden, in the repository's own
/// config) carries a token in its query string: `fetch` is refused as `push`
/// is, before git runs, and the token reaches no error or event. Before,
/// git fetched from it and its error (which quotes the URL with its query)
/// went back to the caller and into a `workspace_failed` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_from_a_remote_whose_url_carries_a_token_is_refused() -> TestResult {
    const TOKEN: &str = "tok_QueryFetch_Lm4Rt9Wx2";
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let ws = w.provision_workspace(clone_spec(&remote, "q", "feat/q")).await?;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    // A port nothing listens on: git fails at once if it runs.
    let url = format!("http://127.0.0.1:9/remote.git?private_token={TOKEN}");
    crate::common::git::git(&ws.path, &["remote", "set-url", "origin", &url]);
    let err = w.fetch_workspace(&ws.id).await.expect_err("refused");
    assert!(matches!(err, WorkspaceError::Config { .. }), "a typed refusal: {err:?}");
    assert!(!err.to_string().contains(TOKEN), "the error echoes the token: {err}");
    assert!(err.to_string().contains("credentials in the repository URL"), "says why: {err}");
    let events = drain(&mut sub).await;
    w.shutdown().await;
    let events_json = events.iter().map(|e| e.to_json()).collect::<Vec<_>>().join("\n");
    assert!(!events_json.contains(TOKEN), "the token reached an event: {events_json}");
    Ok(())
}

/// The git token is offered only to the origin a workspace was cloned from:
/// a remote pointed elsewhere afterwards (as an agent in the workspace can
/// do) is refused before `git` runs, for a push and for a fetch, and the
/// other server never hears from warden. A fetch checks the remote's `url`,
/// which is what `git fetch` uses (not its `pushurl`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_token_goes_only_to_the_origin_the_workspace_was_cloned_from() -> TestResult {
    const TOKEN: &str = "tok_OriginBound_Zq8XvP2mN";
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    git(&remote, &["config", "http.receivepack", "true"]);
    let home = Arc::new(servers::Counters::default());
    let port = servers::git_http_server(tmp.path().to_path_buf(), TOKEN, Arc::clone(&home));
    let elsewhere = Arc::new(servers::Counters::default());
    let other = servers::git_http_server(tmp.path().to_path_buf(), TOKEN, Arc::clone(&elsewhere));
    let home_url = format!("http://127.0.0.1:{port}/remote.git");
    let other_url = format!("http://127.0.0.1:{other}/remote.git");
    let w = start_with(tmp.path(), |c| c.workspace.git.token = Some(Secret::new(TOKEN))).await;
    let spec = ProvisionSpec::Clone(CloneSpec {
        id: Some("bound".into()),
        source: home_url.clone(),
        branch: BranchSpec::Named { name: "feat/bound".into() },
        base: None,
        depth: None,
    });
    let ws = w.provision_workspace(spec).await?;
    fs::write(ws.path.join("bound.txt"), "x\n")?;
    w.commit(&ws.id, commit_req("add")).await?;

    let refused = |err: WorkspaceError| {
        assert!(matches!(err, WorkspaceError::Config { .. }), "a typed refusal: {err:?}");
        assert!(err.to_string().contains("cloned from") && !err.to_string().contains(TOKEN), "{err}");
    };
    // The remote pointed at another origin: neither a push nor a fetch goes.
    git(&ws.path, &["remote", "set-url", "origin", &other_url]);
    refused(w.push(&ws.id, PushRequest::default()).await.expect_err("a push to another origin"));
    refused(w.fetch_workspace(&ws.id).await.expect_err("a fetch from another origin"));
    // Only the push URL elsewhere: the fetch (from `url`) goes, the push does not.
    git(&ws.path, &["remote", "set-url", "origin", &home_url]);
    git(&ws.path, &["remote", "set-url", "--push", "origin", &other_url]);
    w.fetch_workspace(&ws.id).await?;
    refused(w.push(&ws.id, PushRequest::default()).await.expect_err("a push URL at another origin"));
    // Credentials in `url` (the one `git fetch` uses) are refused for a fetch.
    git(&ws.path, &["remote", "set-url", "--push", "origin", &home_url]);
    git(&ws.path, &["remote", "set-url", "origin", &format!("http://u:{TOKEN}@127.0.0.1:{port}/remote.git")]);
    let err = w.fetch_workspace(&ws.id).await.expect_err("credentials in the fetch URL");
    assert!(matches!(err, WorkspaceError::Config { .. }) && !err.to_string().contains(TOKEN), "{err:?}");
    // Back home, the push goes through with the token.
    git(&ws.path, &["remote", "set-url", "origin", &home_url]);
    w.push(&ws.id, PushRequest::default()).await?;
    w.shutdown().await;
    assert_eq!(show(&remote, "feat/bound", "bound.txt"), "x");
    assert!(home.authorized.load(Ordering::SeqCst) >= 2, "the cloned-from origin got the token");
    let heard = elsewhere.authorized.load(Ordering::SeqCst) + elsewhere.refused.load(Ordering::SeqCst);
    assert_eq!(heard, 0, "the other origin heard from warden");
    Ok(())
}
