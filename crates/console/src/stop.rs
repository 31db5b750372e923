//! The signals that tell a client of the terminal (`attach`, `top`) to stop: SIGTERM,
//! SIGHUP (the terminal went away) and SIGINT sent with `kill` (in raw mode ctrl+c is
//! a key, not a signal). Caught, they end the client's loop like its own way out (the
//! detach key, `q`), so the terminal is restored; left to their default action they
//! killed the process with the terminal as the session's program had set it.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that stopped a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGHUP: the terminal went away (or `kill -HUP`).
    Hangup,
    /// SIGINT sent as a signal.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl StopSignal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Hangup => 1,
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
        }
    }

    /// The exit code of a process that ended because of it: 128 + its number, what a
    /// shell reports for a process the signal killed (143 for SIGTERM).
    pub fn exit_code(self) -> i32 {
        128 + self.number()
    }

    /// Its name (`SIGTERM`).
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Hangup => "SIGHUP",
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// The stop signals, caught from [`StopSignals::catch`] on: from then on they no longer
/// kill the process, they wait for [`StopSignals::recv`].
pub(crate) struct StopSignals {
    hangup: Option<Signal>,
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl StopSignals {
    /// Catches SIGHUP, SIGINT and SIGTERM (one that cannot be caught keeps its default
    /// action). Needs a tokio runtime.
    pub(crate) fn catch() -> StopSignals {
        StopSignals {
            hangup: signal(SignalKind::hangup()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// The next stop signal (one that came before this is called is not lost).
    /// Cancel-safe.
    pub(crate) async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = recv_signal(&mut self.terminate) => StopSignal::Terminate,
            _ = recv_signal(&mut self.hangup) => StopSignal::Hangup,
            _ = recv_signal(&mut self.interrupt) => StopSignal::Interrupt,
        }
    }
}

/// The next delivery of a caught signal; never, for one that could not be caught (the
/// console's window changes use it too).
pub(crate) async fn recv_signal(sig: &mut Option<Signal>) {
    match sig {
        // `None` only once the runtime's signal driver is gone: wait for ever.
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::StopSignal;

    #[test]
    fn a_stop_signal_exits_as_a_shell_reports_a_process_it_killed() {
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
        assert_eq!(StopSignal::Hangup.exit_code(), 129);
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
    }
}
