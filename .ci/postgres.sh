#!/usr/bin/env bash
# Installs and starts PostgreSQL 15, creates the `auscult` test role and turns on TLS with a
# self-signed certificate made here with openssl (so `sslmode=require` connects), idempotently.
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
    # pg_ctl gives up waiting after 60 s, but a cluster that was not shut down cleanly (a machine
    # reused after a killed run) first fsyncs its whole data directory and replays its WAL, which
    # can take longer; the server goes on starting, so wait for it below instead of failing here.
    pg_ctlcluster "${version}" main start || echo "PostgreSQL still starting (recovery); waiting" >&2
fi

ready=""
for _ in $(seq 1 600); do
    if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then ready=1; break; fi
    sleep 1
done
if [ -z "${ready}" ]; then
    echo "PostgreSQL did not accept connections within 10 minutes" >&2
    tail -n 20 "/var/log/postgresql/postgresql-${version}-main.log" >&2 || true
    exit 1
fi

if ! su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname = 'auscult'\"" | grep -qx 1; then
    su postgres -c "psql -qc \"create role auscult login password 'auscult' superuser\""
fi

# TLS. The certificate is made once and kept beside the cluster's configuration; the ssl
# settings take effect on a reload (no restart: clients already connected keep their sessions).
# Clients with sslmode=require encrypt without verifying the certificate, which is all the tests
# ask of it (crates/store/tests/postgres_tls.rs).
tls_dir="/etc/postgresql/${version}/main/auscult-tls"
if [ ! -s "${tls_dir}/server.crt" ] || [ ! -s "${tls_dir}/server.key" ]; then
    if ! command -v openssl >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq openssl >/dev/null
    fi
    install -d -o postgres -g postgres -m 0700 "${tls_dir}"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "${tls_dir}/server.key.new" -out "${tls_dir}/server.crt.new" 2>/dev/null
    chown postgres:postgres "${tls_dir}/server.key.new" "${tls_dir}/server.crt.new"
    chmod 0600 "${tls_dir}/server.key.new"
    mv "${tls_dir}/server.key.new" "${tls_dir}/server.key"
    mv "${tls_dir}/server.crt.new" "${tls_dir}/server.crt"
fi
su postgres -c "psql -qX -v ON_ERROR_STOP=1" >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '${tls_dir}/server.crt';
ALTER SYSTEM SET ssl_key_file = '${tls_dir}/server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
tls_url="host=127.0.0.1 port=5432 user=auscult password=auscult dbname=postgres sslmode=require"
encrypted=""
for _ in $(seq 1 20); do
    encrypted="$(psql -qAtX "${tls_url}" -c 'select ssl from pg_stat_ssl where pid = pg_backend_pid()' 2>/dev/null || true)"
    if [ "${encrypted}" = "t" ]; then break; fi
    sleep 0.5
done
if [ "${encrypted}" != "t" ]; then
    echo "PostgreSQL does not accept TLS connections (sslmode=require) after enabling ssl" >&2
    exit 1
fi

echo "postgres://auscult:auscult@127.0.0.1:5432/postgres"
