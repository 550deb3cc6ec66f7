//! Integration tests: the real `xtask` binary against fixture tasks.toml files,
//! real PostgreSQL clusters started by the tests, and the real Prisma CLI.

mod backup;
mod harness;
mod runner;
