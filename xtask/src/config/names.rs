//! Names the tool owns, kept beside the configuration that must not reuse them:
//! the built-in kinds a task can name with `uses = "..."` (with what each needs),
//! the subcommands that are not tasks, and the global flags.

/// The built-ins, as tasks.toml names them. Each knows whether a run containing
/// it holds the deploy lock and which deploy-policy keys it takes; the built-in
/// tasks themselves (`builtins`) say how they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    Backup,
    PrismaDeploy,
    ResolveRolledBack,
    ResolveApplied,
    Status,
    Diagnose,
    Restore,
    FleetDeploy,
    FleetReport,
}

impl BuiltinKind {
    /// Every built-in, in the order `--list` and error messages show them.
    pub const ALL: [BuiltinKind; 9] = [
        BuiltinKind::Backup,
        BuiltinKind::PrismaDeploy,
        BuiltinKind::ResolveRolledBack,
        BuiltinKind::ResolveApplied,
        BuiltinKind::Status,
        BuiltinKind::Diagnose,
        BuiltinKind::Restore,
        BuiltinKind::FleetDeploy,
        BuiltinKind::FleetReport,
    ];

    /// The name written in tasks.toml.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::Backup => "backup",
            BuiltinKind::PrismaDeploy => "prisma-deploy",
            BuiltinKind::ResolveRolledBack => "prisma-resolve-rolled-back",
            BuiltinKind::ResolveApplied => "prisma-resolve-applied",
            BuiltinKind::Status => "status",
            BuiltinKind::Diagnose => "diagnose",
            BuiltinKind::Restore => "restore",
            BuiltinKind::FleetDeploy => "fleet-deploy",
            BuiltinKind::FleetReport => "fleet-report",
        }
    }

    pub fn from_name(name: &str) -> Option<BuiltinKind> {
        BuiltinKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Built-ins that change the migration ledger: a run containing one holds the
    /// deploy lock from before its first task (the backup) to its end.
    pub fn needs_deploy_lock(self) -> bool {
        matches!(self, BuiltinKind::PrismaDeploy | BuiltinKind::ResolveRolledBack | BuiltinKind::ResolveApplied)
    }

    /// The deploy-policy keys a task of this kind may set.
    pub fn policy_keys(self) -> &'static [&'static str] {
        match self {
            BuiltinKind::PrismaDeploy => &["recover", "allow", "if_applied", "rehearse"],
            _ => &[],
        }
    }
}

impl std::fmt::Display for BuiltinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The subcommand that prints shell completions; not a task name.
pub(crate) const COMPLETIONS: &str = "completions";

/// The subcommand that runs the demo on a throwaway cluster; not a task name.
pub(crate) const DEMO: &str = "demo";

/// The subcommand that scaffolds the tool into a repository; not a task name.
pub(crate) const INIT: &str = "init";

/// Names the tool uses itself; tasks.toml cannot define tasks with them.
pub(crate) const RESERVED: &[&str] = &[COMPLETIONS, DEMO, INIT, "help"];

/// The ids of the global flags: a task argument cannot take one of these names.
pub(crate) const GLOBAL_FLAGS: &[&str] =
    &["config", "dry-run", "list", "yes", "no-progress", "color", "report", "json", "lock-timeout", "no-wait"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in BuiltinKind::ALL {
            assert_eq!(BuiltinKind::from_name(k.name()), Some(k));
        }
        assert_eq!(BuiltinKind::from_name("bakup"), None);
    }
}
