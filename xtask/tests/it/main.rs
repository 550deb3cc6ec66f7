//! Integration tests: the real `xtask` binary against fixture tasks.toml files,
//! real PostgreSQL clusters started by the tests, and the real Prisma CLI.

mod deploy;
mod harness;
mod prisma_app;
mod report;
mod runner;
mod terminal;
