#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries are on this machine (Debian's `postgresql`).
# The test suite itself starts a throw-away cluster on 127.0.0.1 and removes it.
set -euo pipefail
have_pg() {
  command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
if have_pg; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "PostgreSQL is not installed: run 'sudo apt-get install -y postgresql' (or set ERP_TEST_PG_URL)" >&2
    exit 1
  fi
fi
echo "installing Debian's postgresql package for the test suite..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian's package starts a cluster of its own; the tests use their own, so stop it.
(command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
  $SUDO pg_ctlcluster "$ver" "$name" stop || true; done) || true
have_pg
