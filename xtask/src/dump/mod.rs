//! Dump files, the parts of the `backup` built-in (`builtins::backup` puts them
//! together):
//! names on disk and retention, running pg_dump, verifying and checksumming the
//! dump, catching Ctrl-C while a partial exists, and restoring a dump.

pub mod interrupt;
pub mod naming;
pub mod pgdump;
pub mod restore;
pub mod verify;
