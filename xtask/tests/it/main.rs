//! Integration tests: the real `xtask` binary against fixture tasks.toml files,
//! real PostgreSQL clusters started by the tests, and the real Prisma CLI.

mod backup;
mod deploy;
mod evidence;
mod harness;
mod layers;
mod prisma_app;
mod rehearsal;
mod report;
mod restore;
mod runner;
mod status;
mod terminal;
mod tls;
