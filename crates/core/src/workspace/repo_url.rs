//! Credentials in a repository URL, which warden refuses wherever a
//! repository is named (task specs, workspace clones, push URLs, the
//! protocol's `repo` fields, the CLI's `--repo`).
//!
//! A URL given to `git` is on its command line (readable by any local user
//! in `/proc`) and written into the clone's `.git/config`, and a task keeps
//! its spec in its record and replies; so a credential in one is refused
//! before anything is kept or run, and the refusal never echoes the URL.
//! Tokens belong in the node's configuration (`WARDEN_GIT_TOKEN`, handed to
//! git by a credential helper) or in the user's own credential helper.
//!
//! The policy, in full:
//! - any userinfo (`user@`, `user:password@`) in a URL with a scheme is
//!   refused, except a user name without a password in an ssh URL
//!   (`ssh://git@host/…`, `git+ssh://`, `ssh+git://`): ssh user names are
//!   not secrets;
//! - scp-like sources (`git@host:owner/repo.git`) have no scheme and are
//!   ssh: allowed;
//! - an `http(s)` URL whose query string has a parameter named like a
//!   credential (a word of its name is `token`, `password`, `key`, `auth`,
//!   `secret`, `sig`, … : `access_token`, `private-token`, `apiKey`,
//!   `X-Amz-Signature`; not `author` or `monkey`) is refused.

use std::fmt;

use crate::text::percent_decode;

/// Where a repository URL carries a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlCredential {
    /// A user name or password before the host (`https://token@host/…`).
    Userinfo,
    /// A credential-like parameter in an `http(s)` query (`?access_token=…`).
    QueryParameter,
}

impl fmt::Display for UrlCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Userinfo => "a user name or password before the host",
            Self::QueryParameter => "a credential in the query string",
        })
    }
}

impl UrlCredential {
    /// The refusal of a repository URL carrying this credential: what is
    /// wrong and what to do, never the URL itself.
    pub fn refusal(self) -> String {
        format!(
            "credentials in the repository URL are refused ({self}); give the URL without them and set the token \
             on the node (`WARDEN_GIT_TOKEN`) or in a git credential helper"
        )
    }
}

/// Schemes whose user name is not a secret.
const SSH_SCHEMES: &[&str] = &["ssh", "git+ssh", "ssh+git"];

/// Words of query parameter names that mark a credential (`access_token`,
/// `private-token`, `apiKey`, `X-Amz-Signature` …); a name is split into words at
/// `_`, `-`, `.` and lower-to-upper case changes, so `author` or `monkey` are not.
const CREDENTIAL_WORDS: &[&str] = &[
    "token",
    "tok",
    "pass",
    "passwd",
    "password",
    "pwd",
    "secret",
    "key",
    "apikey",
    "auth",
    "authorization",
    "sig",
    "signature",
    "cred",
    "creds",
    "credential",
    "credentials",
    "accesstoken",
    "privatetoken",
];

/// Whether a query parameter's (decoded) name reads as a credential.
pub(crate) fn credential_name(name: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.iter().any(|w| CREDENTIAL_WORDS.contains(&w.as_str()))
}

/// The credential `url` carries, if any (see the module's policy).
pub fn url_credential(url: &str) -> Option<UrlCredential> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    if let Some((userinfo, _host)) = rest[..authority_end].rsplit_once('@') {
        let ssh_user = SSH_SCHEMES.contains(&scheme.as_str()) && !userinfo.contains(':');
        if !ssh_user {
            return Some(UrlCredential::Userinfo);
        }
    }
    if scheme == "http" || scheme == "https" {
        let query = rest.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or(q)).unwrap_or("");
        let credential_like = query
            .split(['&', ';'])
            .any(|pair| credential_name(&percent_decode(pair.split('=').next().unwrap_or(pair))));
        if credential_like {
            return Some(UrlCredential::QueryParameter);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_repository_urls() {
        use UrlCredential::{QueryParameter, Userinfo};
        let table: &[(&str, Option<UrlCredential>)] = &[
            ("https://github.com/o/r.git", None),
            ("http://127.0.0.1:8080/r", None),
            ("https://u:p@h/x", Some(Userinfo)),
            ("https://ghp_tok@h/x", Some(Userinfo)),
            ("HTTPS://tok@h/x", Some(Userinfo)),
            ("https://x-access-token@github.com/o/r.git", Some(Userinfo)),
            ("https://tok@h", Some(Userinfo)),
            ("https://tok@h?x", Some(Userinfo)),
            ("git://tok@h/r", Some(Userinfo)),
            ("file://tok@/srv/r.git", Some(Userinfo)),
            ("ssh://git@h/x", None),
            ("ssh://git@h:22/o/r", None),
            ("git+ssh://git@h/o/r", None),
            ("ssh://git:pass@h/x", Some(Userinfo)),
            ("git@github.com:o/r.git", None),
            ("/srv/repo.git", None),
            ("./dir/with@sign", None),
            ("https://h/o/r@v1.git", None),
            ("https://h/r.git?access_token=t", Some(QueryParameter)),
            ("https://h/r.git?x=1&private_token=t", Some(QueryParameter)),
            ("https://h/r.git?TOKEN=t", Some(QueryParameter)),
            ("https://h/r.git?access%5Ftoken=t", Some(QueryParameter)),
            ("https://h/r.git?X-Amz-Signature=t", Some(QueryParameter)),
            ("https://h/r.git?ref=main", None),
            ("https://h/r.git?apiKey=t", Some(QueryParameter)),
            ("https://h/r.git?private-token=t", Some(QueryParameter)),
            ("https://h/r.git?auth=t", Some(QueryParameter)),
            ("https://h/r.git?author=me&monkey=1&design=2&compass=3", None),
            ("https://h/r.git#token=t", None),
            ("ssh://git@h/r.git?token=t", None),
        ];
        for (url, want) in table {
            assert_eq!(url_credential(url), *want, "{url}");
            if let Some(found) = want {
                let refusal = found.refusal();
                assert!(!refusal.contains("@h") && !refusal.contains("=t"), "{url}: {refusal}");
            }
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%5Fb%2"), "a_b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
