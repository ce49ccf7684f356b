#!/usr/bin/env bash
# Installs and starts PostgreSQL 15 and creates the `auscult` test role, idempotently.
# Prints the URL the server's tests read from AUSCULT_TEST_POSTGRES_URL.
# Usage: bash .ci/postgres.sh   (as root; CI runs it from .ci/run)
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "${version} main"; then
    pg_createcluster "${version}" main >/dev/null
fi
if ! pg_lsclusters -h | awk '$1=="'"${version}"'" && $2=="main" {print $4}' | grep -qx online; then
    pg_ctlcluster "${version}" main start
fi

for _ in $(seq 1 30); do
    if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done

if ! su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname = 'auscult'\"" | grep -qx 1; then
    su postgres -c "psql -qc \"create role auscult login password 'auscult' superuser\""
fi

echo "postgres://auscult:auscult@127.0.0.1:5432/postgres"
