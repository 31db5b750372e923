//! Output printed to a terminal nobody types into: `warden run` with stdout a
//! terminal and no console (stdin not one). warden answers the agent's
//! terminal queries itself there (`WardenConfig::answer_terminal_queries`), so
//! the queries are taken out of what is printed: the terminal would answer
//! them again, into its own input, and the replies would reach whatever reads
//! it next (the shell, as garbage at its prompt). Printed to a pipe or a
//! file, output stays byte for byte what the agent wrote.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use warden_core::SessionId;
use warden_core::term::QueryFilter;

/// Where an agent's output goes, one query filter per session (a task's
/// agents print in turn, each one's escape sequences split anywhere).
pub(super) struct Printed {
    filters: Option<HashMap<SessionId, QueryFilter>>,
}

impl Printed {
    /// For this process's stdout: filtered when it is a terminal, unless a
    /// console writes to it (the terminal answers there) or events go out as
    /// JSON lines.
    pub fn for_stdout(console: bool, json: bool) -> Self {
        Printed::new(!console && !json && std::io::stdout().is_terminal())
    }

    /// `terminal`: stdout is a terminal and no console writes to it.
    fn new(terminal: bool) -> Self {
        Printed { filters: terminal.then(HashMap::new) }
    }

    /// Writes a session's output.
    pub fn output(&mut self, out: &mut impl Write, session: Option<SessionId>, bytes: &[u8]) -> std::io::Result<()> {
        match (&mut self.filters, session) {
            (Some(filters), Some(s)) => {
                let mut shown = Vec::with_capacity(bytes.len());
                filters.entry(s).or_default().push(bytes, &mut shown);
                out.write_all(&shown)
            }
            _ => out.write_all(bytes),
        }
    }

    /// Writes what a session's filter held back: the session has ended.
    pub fn ended(&mut self, out: &mut impl Write, session: Option<SessionId>) -> std::io::Result<()> {
        let Some(mut filter) = session.and_then(|s| self.filters.as_mut().and_then(|f| f.remove(&s))) else {
            return Ok(());
        };
        let mut rest = Vec::new();
        filter.finish(&mut rest);
        out.write_all(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_no_queries_and_a_pipe_gets_every_byte() {
        let s = Some(SessionId::new());
        let agent = b"top\x1b[6n\x1b[1mbold\x1b[";
        let mut terminal = Printed::new(true);
        let mut shown = Vec::new();
        terminal.output(&mut shown, s, agent).expect("written");
        terminal.ended(&mut shown, s).expect("written");
        assert_eq!(shown, b"top\x1b[1mbold\x1b[");
        let mut pipe = Printed::new(false);
        let mut piped = Vec::new();
        pipe.output(&mut piped, s, agent).expect("written");
        pipe.ended(&mut piped, s).expect("written");
        assert_eq!(piped, agent);
    }
}
