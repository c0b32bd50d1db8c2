#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the test suite.
# Uses a running server when there is one; otherwise installs (apt) and starts one. Fails loudly.
set -euo pipefail
HOST=127.0.0.1
PORT=5432

answers() { command -v pg_isready >/dev/null && pg_isready -q -h "$HOST" -p "$PORT"; }

if answers; then
  exit 0
fi
echo "PostgreSQL does not answer on $HOST:$PORT; trying to start or install it" >&2
if [ "$(id -u)" != 0 ]; then
  echo "error: PostgreSQL is required by the tests; start one on $HOST:$PORT (trust auth for user postgres)" >&2
  exit 1
fi
if ! command -v pg_ctlcluster >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ -z "$version" ]; then
  echo "error: no PostgreSQL cluster found after install" >&2
  exit 1
fi
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q "paperboy-test" "$hba"; then
  # Test-only trust for local TCP connections, as on the project's CI machines.
  sed -i "1i host all all 127.0.0.1/32 trust # paperboy-test\nhost all all ::1/128 trust # paperboy-test" "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
for _ in $(seq 1 30); do
  answers && exit 0
  sleep 1
done
echo "error: PostgreSQL did not come up on $HOST:$PORT" >&2
exit 1
