//! The parts of the `backup` built-in (`builtins::backup` puts them together):
//! names on disk and retention, running pg_dump, verifying and checksumming the
//! dump, and catching Ctrl-C while a partial exists.

pub mod dump;
pub mod interrupt;
pub mod naming;
pub mod verify;
