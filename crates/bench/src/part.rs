//! The parts of `warden bench`.

use std::str::FromStr;

/// One part of `warden bench`, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Spawn → first output byte ([`crate::spawn`]).
    Spawn,
    /// Output throughput ([`crate::throughput`]).
    Throughput,
    /// Memory per idle session ([`crate::memory`]).
    Memory,
    /// Prompt → answer latency ([`crate::prompt`]).
    Prompt,
    /// Stall precision ([`crate::stall`]).
    Stall,
    /// An attached terminal during a flood ([`crate::attach`]).
    Attach,
}

impl Part {
    /// Every part, in the order they run.
    pub const ALL: [Part; 6] = [Part::Spawn, Part::Throughput, Part::Memory, Part::Prompt, Part::Stall, Part::Attach];

    /// The part's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Part::Spawn => "spawn",
            Part::Throughput => "throughput",
            Part::Memory => "memory",
            Part::Prompt => "prompt",
            Part::Stall => "stall",
            Part::Attach => "attach",
        }
    }

    /// The parts `only` selects, in running order; all of them when `only` is empty.
    pub fn selected(only: &[Part]) -> Vec<Part> {
        Part::ALL.into_iter().filter(|p| only.is_empty() || only.contains(p)).collect()
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A part name that is not one of [`Part::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown part {0:?} (expected spawn, throughput, memory, prompt, stall or attach)")]
pub struct UnknownPart(pub String);

impl FromStr for Part {
    type Err = UnknownPart;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Part::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownPart(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Part;

    #[test]
    fn names_round_trip_and_selection_keeps_running_order() {
        for p in Part::ALL {
            assert_eq!(p.name().parse::<Part>().ok(), Some(p));
        }
        assert!("mem".parse::<Part>().is_err());
        assert_eq!(Part::selected(&[]), Part::ALL.to_vec());
        assert_eq!(Part::selected(&[Part::Stall, Part::Spawn]), vec![Part::Spawn, Part::Stall]);
    }
}
