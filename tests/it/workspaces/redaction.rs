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
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    let provisioned = ok_json(cli(&state).args([
        "workspace",
        "provision",
        "--repo",
        &s(&remote),
        "--branch",
        "feat/r",
        "--id",
        "r",
        "--json",
    ]))?;
    let path = PathBuf::from(provisioned["path"].as_str().ok_or("path")?);
    fs::write(path.join("f.txt"), "f\n")?;
    let out = cli(&state)
        .args(["workspace", "finalize", "r", "-m", "add f", "--push", "--pr-title", "t", "--github-repo", "o/r"])
        .args(["--github-api", &api, "--json"])
        .env("GITHUB_TOKEN", TOKEN)
        .env("WARDEN_LOG", "debug")
        .env("WARDEN_AUTHOR_NAME", "T")
        .env("WARDEN_AUTHOR_EMAIL", "t@example.com")
        .output()?;
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
