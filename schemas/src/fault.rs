//! Whose fault an error is. Every crate's error enum says it
//! ([`Classify`]), so the binary can tell an operator what to do and exit
//! with a code a supervisor can act on.

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The user's or operator's: a setting or an input to change.
    User,
    /// Something outside vigie: a disk, a server, a file written by
    /// another build. Trying again once it is fixed can work.
    External,
    /// vigie's own: a broken invariant, a bug.
    Internal,
}

impl Fault {
    /// The command line's exit code: 2 for the user's, 3 for outside, 70
    /// (`EX_SOFTWARE`) for vigie's own.
    pub fn exit_code(self) -> u8 {
        match self {
            Fault::User => 2,
            Fault::External => 3,
            Fault::Internal => 70,
        }
    }

    /// What to do about it, in one line.
    pub fn hint(self) -> &'static str {
        match self {
            Fault::User => "change the input or the setting named above, then run it again",
            Fault::External => "something outside vigie failed; run it again once it is fixed",
            Fault::Internal => "this is a bug in vigie; please report it with the message above",
        }
    }
}

/// An error that says whose fault it is.
pub trait Classify {
    /// Whose fault it is.
    fn fault(&self) -> Fault;
}

/// The body of a request, or an item in it, is the sender's to fix.
impl Classify for crate::body::BodyError {
    fn fault(&self) -> Fault {
        Fault::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_has_its_own_exit_code() {
        let codes = [Fault::User, Fault::External, Fault::Internal].map(Fault::exit_code);
        assert_eq!(codes, [2, 3, 70]);
        assert_eq!(crate::body::BodyError(crate::i18n::Msg::BodyEmpty).fault(), Fault::User);
    }
}
