//! The built-in tasks a tasks.toml entry can name with `uses = "..."`, all behind
//! one interface: a name, the arguments it takes, what it would run (for
//! `--dry-run`), and the function that runs it.

mod backup;

use crate::runner::{Ctx, Failure};

pub mod deploy;
pub mod diagnose;
pub mod resolve;
pub mod restore;
pub mod status;

/// How a built-in argument is given on the command line.
#[derive(Debug, Clone, Copy)]
pub enum ArgKind {
    /// `cargo xtask resolve-applied NAME`
    Positional { required: bool },
    /// `--verify-restore`
    Flag,
    /// `--into DBNAME`
    Option,
}

#[derive(Debug, Clone, Copy)]
pub struct BuiltinArg {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: ArgKind,
}

pub struct Builtin {
    pub name: &'static str,
    pub about: &'static str,
    /// Shown at the end of `cargo xtask <task> --help`.
    pub example: &'static str,
    pub args: &'static [BuiltinArg],
    pub run: fn(&mut Ctx) -> Result<(), Failure>,
    /// The commands it would run, for `--dry-run` (secrets are masked by the caller).
    pub describe: fn(&Ctx) -> Vec<String>,
}

/// Every built-in, in the order `--list` and error messages show them.
static ALL: &[&Builtin] = &[
    &backup::BACKUP,
    &deploy::DEPLOY,
    &resolve::ROLLED_BACK,
    &resolve::APPLIED,
    &status::STATUS,
    &diagnose::DIAGNOSE,
    &restore::RESTORE,
];

pub fn all() -> &'static [&'static Builtin] {
    ALL
}

/// Built-ins that change the migration ledger: a run containing one holds the
/// deploy lock from before its first task (the backup) to its end.
pub fn needs_deploy_lock(name: &str) -> bool {
    matches!(name, "prisma-deploy" | "prisma-resolve-rolled-back" | "prisma-resolve-applied")
}

pub fn find(name: &str) -> Option<&'static Builtin> {
    all().iter().copied().find(|b| b.name == name)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|b| b.name).collect()
}
