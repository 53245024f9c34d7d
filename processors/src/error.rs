//! The compute crate's errors. Each variant says whose fault it is
//! ([`Fault`]) and whether trying again can help, so the binary can answer
//! an operator plainly and a supervisor knows not to loop.

pub use vigie_schemas::fault::{Classify, Fault};

/// What went wrong in the compute crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A setting is out of range or contradicts another; the message names it.
    #[error("{0}")]
    Config(String),
    /// The saved state was written by a build with another state layout.
    #[error("the saved state is version {found}, this build reads version {expected}")]
    StateVersion {
        /// The version in the saved state.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The saved state was built with other buckets or seasons than the
    /// configuration's; the message says which and what to do.
    #[error("{0}")]
    StateMismatch(String),
    /// The saved state cannot be right (a series key that is not UTF-8).
    #[error("the saved state is damaged: {0}")]
    StateDamaged(String),
}

impl Classify for Error {
    fn fault(&self) -> Fault {
        match self {
            Error::Config(_) | Error::StateMismatch(_) => Fault::User,
            Error::StateVersion { .. } | Error::StateDamaged(_) => Fault::External,
        }
    }
}

impl Error {
    /// Whether the same call can succeed later without a change: never, for
    /// these (each needs a setting, a file or a build changed).
    pub fn retryable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whose_fault_they_are() {
        assert_eq!(Error::Config("engine.x".into()).fault(), Fault::User);
        let v = Error::StateVersion { found: 3, expected: 4 };
        assert_eq!(v.fault(), Fault::External);
        assert_eq!(v.to_string(), "the saved state is version 3, this build reads version 4");
        assert!(!v.retryable());
    }
}
