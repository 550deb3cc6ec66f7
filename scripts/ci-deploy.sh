#!/usr/bin/env bash
# The CI step of a production deploy (what .github/workflows/deploy.yml calls):
# runs `cargo xtask deploy` (backup, prisma migrate deploy, at most one
# evidence-checked recovery) with a JSON report, and exits with the tool's own
# exit status so the pipeline can tell the outcomes apart.
#
# Environment:
#   DATABASE_URL  required; the production database (never printed)
#   XTASK_REPORT  where the JSON report goes [default: xtask-report.json]
#   XTASK         how to run the tool [default: cargo xtask]; the tests use the built binary
# Runs in the current directory (the repository root in a workflow), whose tasks.toml
# (or XTASK_CONFIG) says what deploy does.
set -euo pipefail

if [ -z "${DATABASE_URL:-}" ]; then
  echo "ci-deploy: DATABASE_URL is not set: pass the production database URL to this step from a secret (env: DATABASE_URL: \${{ secrets.DATABASE_URL }})" >&2
  exit 2
fi

report="${XTASK_REPORT:-xtask-report.json}"
read -r -a xtask <<<"${XTASK:-cargo xtask}"
# Plain, timestamped lines instead of progress bars.
export CI="${CI:-true}"

status=0
"${xtask[@]}" deploy --report "$report" || status=$?

if [ "$status" -ne 0 ]; then
  case "$status" in
    1) why="a task failed: see the error above" ;;
    2) why="usage or configuration error: nothing ran" ;;
    3) why="the database is unreachable or refused the credentials: nothing was resolved" ;;
    4) why="a migration failed and was not recovered: see the diagnosis above for the next commands" ;;
    5) why="another deploy holds the deploy lock: retry when it is done" ;;
    6) why="migrations are pending (a status check, not a failure)" ;;
    7) why="a fleet wave spent its failure budget: the fleet stopped before trying every target" ;;
    129) why="stopped by SIGHUP after cleaning up what the run made" ;;
    130) why="stopped by Ctrl-C (SIGINT) after cleaning up what the run made" ;;
    143) why="stopped by SIGTERM (a cancelled job) after cleaning up what the run made" ;;
    *) why="not a documented exit status of cargo xtask (0-7, 129, 130, 143)" ;;
  esac
  echo "ci-deploy: cargo xtask deploy exited with $status ($why); report: $report" >&2
fi
exit "$status"
