//! Integration tests: the real `xtask` binary against fixture tasks.toml files,
//! real PostgreSQL clusters started by the tests, and the real Prisma CLI.

mod backup;
mod evidence;
mod harness;
mod report;
mod restore;
mod runner;
mod status;
mod terminal;
