//! Dump files, the parts of the `backup` built-in (`builtins::backup` puts them
//! together):
//! names on disk and retention, running pg_dump, verifying and checksumming the
//! dump, and restoring a dump (also in parallel, for the rehearsal's schema copy).

pub(crate) mod naming;
pub(crate) mod parallel;
pub(crate) mod pgdump;
pub(crate) mod restore;
pub(crate) mod verify;
