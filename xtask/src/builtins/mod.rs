//! The built-in tasks a tasks.toml entry can name with `uses = "..."`, all behind
//! one interface: a name, the arguments it takes, what it would run (for
//! `--dry-run`), and the function that runs it.

mod backup;
mod deploy;
mod diagnose;
mod fleet;
mod resolve;
mod restore;
mod status;

use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::exit::Failure;

/// How a built-in argument is given on the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArgKind {
    /// `cargo xtask resolve-applied NAME`
    Positional { required: bool },
    /// `--verify-restore`
    Flag,
    /// `--into DBNAME`
    Option,
    /// `FILE...`: one or more values (joined with NUL in `TaskArgs`).
    Many,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BuiltinArg {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: ArgKind,
}

pub(crate) struct Builtin {
    /// Its name in tasks.toml, whether it needs the deploy lock, its policy keys.
    pub kind: BuiltinKind,
    pub about: &'static str,
    /// Shown at the end of `cargo xtask <task> --help`.
    pub example: &'static str,
    pub args: &'static [BuiltinArg],
    pub run: fn(&mut Ctx) -> Result<(), Failure>,
    /// The commands it would run, for `--dry-run` (secrets are masked by the caller);
    /// an error when the plan itself cannot be made (the dry run then exits with it).
    pub describe: fn(&Ctx) -> Result<Vec<String>, Failure>,
}

/// The built-in task of a kind (the match is exhaustive: a new kind needs its task).
pub(crate) fn find(kind: BuiltinKind) -> &'static Builtin {
    match kind {
        BuiltinKind::Backup => &backup::BACKUP,
        BuiltinKind::PrismaDeploy => &deploy::DEPLOY,
        BuiltinKind::ResolveRolledBack => &resolve::ROLLED_BACK,
        BuiltinKind::ResolveApplied => &resolve::APPLIED,
        BuiltinKind::Status => &status::STATUS,
        BuiltinKind::Diagnose => &diagnose::DIAGNOSE,
        BuiltinKind::Restore => &restore::RESTORE,
        BuiltinKind::FleetDeploy => &fleet::FLEET_DEPLOY,
        BuiltinKind::FleetReport => &fleet::FLEET_REPORT,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::BuiltinKind;

    #[test]
    fn each_kind_finds_its_own_builtin() {
        for kind in BuiltinKind::ALL {
            assert_eq!(super::find(kind).kind, kind);
        }
    }
}
