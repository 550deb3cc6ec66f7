//! Integration tests: the real `xtask` binary against fixture tasks.toml files,
//! real PostgreSQL clusters started by the tests, and the real Prisma CLI.

mod adoption;
mod advice;
mod backup;
mod datacheck;
mod deploy;
mod engines;
mod evidence;
mod evidence_catalog;
mod evidence_trial;
mod faults;
mod fleet;
mod harm;
mod harness;
mod hostile;
mod init_hostile;
mod init_monorepo;
mod layers;
mod pooler;
mod prisma_app;
mod rehearsal;
mod report;
mod restore;
mod runner;
mod status;
mod terminal;
mod tls;
mod trial_cost;
mod url_fallback;
