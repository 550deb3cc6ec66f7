//! Dump files, the parts of the `backup` built-in (`builtins::backup` puts them
//! together):
//! names on disk and retention, running pg_dump, verifying and checksumming the
//! dump, and restoring a dump.

pub mod naming;
pub mod pgdump;
pub mod restore;
pub mod verify;
