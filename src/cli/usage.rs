//! Argument errors the way every other error of warden is reported: one line
//! on stderr, `warden: …` with a hint, exit status 125 (clap's own errors
//! span several lines and exit with 2, which collides with agents' codes).

use clap::error::ErrorKind;

use super::{Cli, EXIT_WARDEN_ERROR};

/// Parses the process's arguments; prints help or the version and exits 0,
/// or prints one line and exits 125 on an argument error.
pub fn parse_or_exit() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match <Cli as clap::Parser>::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            // Help and version are answers, not errors: stdout, exit 0.
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            let words: Vec<String> = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
            eprintln!("warden: {}", one_line(&e, &words));
            std::process::exit(EXIT_WARDEN_ERROR);
        }
    }
}

/// The subcommand named in `args` (the first word that is one), for the hint.
fn subcommand(args: &[String]) -> Option<&str> {
    let cmd = <Cli as clap::CommandFactory>::command();
    args.iter()
        .map(String::as_str)
        .find(|a| cmd.get_subcommands().any(|s| s.get_name() == *a || s.get_all_aliases().any(|al| al == *a)))
}

/// One line for a clap error: its first line without `error: `, then a hint.
fn one_line(e: &clap::Error, args: &[String]) -> String {
    let help = match subcommand(args) {
        Some(sub) => format!("warden {sub} --help"),
        None => "warden --help".to_string(),
    };
    let what = match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            "a command is required".to_string()
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid arguments");
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        }
    };
    format!("{what}; see `{help}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(args: &[&str]) -> String {
        let words: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut all = vec!["warden".to_string()];
        all.extend(words.iter().cloned());
        let e = <Cli as clap::Parser>::try_parse_from(&all).expect_err("an argument error");
        one_line(&e, &words)
    }

    #[test]
    fn argument_errors_are_one_line_with_a_hint() {
        let line = err(&["run", "--bogus"]);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("--bogus") && line.ends_with("see `warden run --help`"), "{line}");
        let line = err(&[]);
        assert_eq!(line, "a command is required; see `warden --help`");
        let line = err(&["nosuch"]);
        assert!(line.contains("nosuch") && line.ends_with("see `warden --help`"), "{line}");
    }
}
