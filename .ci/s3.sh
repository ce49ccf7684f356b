#!/usr/bin/env bash
# Installs (from PyPI) and starts moto's S3-compatible server on 127.0.0.1, idempotently, for the
# S3 blob tests. Prints the URL the tests read from AUSCULT_TEST_S3_URL on its last line.
# Usage: bash .ci/s3.sh   (CI runs it from .ci/run; AUSCULT_S3_PORT overrides the port 9577)
set -euo pipefail

port="${AUSCULT_S3_PORT:-9577}"
url="http://127.0.0.1:${port}"

up() {
    python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    sys.exit(0 if s.recv(12).startswith(b"HTTP/1.") else 1)
except OSError:
    sys.exit(1)
PY
}

if ! up; then
    if ! python3 -c 'import moto.server, flask, werkzeug' >/dev/null 2>&1; then
        python3 -m pip install -q 'moto[server]' >&2
    fi
    nohup setsid python3 -m moto.server -H 127.0.0.1 -p "$port" >/tmp/auscult-moto.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        if up; then break; fi
        sleep 0.5
    done
    up || { echo "moto did not start; see /tmp/auscult-moto.log" >&2; exit 1; }
fi

echo "$url"
