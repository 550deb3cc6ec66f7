# For teams that drive everything with just: each recipe calls `cargo xtask`, so
# tasks.toml stays the one place where the runbook is defined. Arguments are passed
# as positional arguments ("$@"), never pasted into the shell line.
#   just deploy --dry-run
#   just resolve-applied 20260221053404_add_missing_models --yes
# `xtask` can point at a built binary: just xtask=target/release/xtask status

set positional-arguments

xtask := "cargo xtask"

# List the recipes
default:
    @just --list

# The whole runbook story on a throwaway PostgreSQL cluster
demo *args:
    {{xtask}} demo "$@"

# pg_dump the database to a timestamped, verified file
backup *args:
    {{xtask}} backup "$@"

# Backup, then prisma migrate deploy with one evidence-checked recovery
deploy *args:
    {{xtask}} deploy "$@"

# Mark a failed migration rolled back (after fixing its migration.sql)
resolve-rolled-back *args:
    {{xtask}} resolve-rolled-back "$@"

# Mark a failed migration applied (its changes are in the database)
resolve-applied *args:
    {{xtask}} resolve-applied "$@"

# Migrations on disk against _prisma_migrations
status *args:
    {{xtask}} status "$@"

# Did the failed migration apply?
diagnose *args:
    {{xtask}} diagnose "$@"

# Restore a backup file
restore *args:
    {{xtask}} restore "$@"

# All tests
test *args:
    cargo test --workspace "$@"
