#!/usr/bin/env bash
# Start the whole stack on this machine: SQLite files under var/, the local RabbitMQ.
# DB=postgresql: a local PostgreSQL instead (PRM_PG_DSN, default
# postgresql://postgres@127.0.0.1:5432), one database prm_<service> each, created if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
export PORT="${PORT:-8000}"
export PRM_HTTP_PORT="$PORT"
export AMQP_URI="${AMQP_URI:-amqp://guest:guest@localhost:5672/}"
if [ -n "${PRM_ADMIN_PASSWORD:-}" ]; then
  ADMIN_PASSWORD_FROM="the PRM_ADMIN_PASSWORD you set"
else
  # A strong random password made on the first run, readable by this user only; it is
  # never printed: the banner says where it is.
  ADMIN_PASSWORD_FILE="$("$BIN/python" -c 'from services.common.config import local_secret, var_dir
local_secret("admin-password")
print(var_dir() / "keys" / "admin-password")')"
  PRM_ADMIN_PASSWORD="$(cat "$ADMIN_PASSWORD_FILE")"
  ADMIN_PASSWORD_FROM="$ADMIN_PASSWORD_FILE (cat it)"
fi
export PRM_ADMIN_PASSWORD
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
mkdir -p var

if ! "$BIN/python" - <<'PY'
import os, sys
from kombu import Connection
try:
    with Connection(os.environ["AMQP_URI"], connect_timeout=3) as c:
        c.ensure_connection(max_retries=1)
except Exception as exc:
    print(f"No message broker answers at {os.environ['AMQP_URI']}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
  cat >&2 <<'MSG'

Start RabbitMQ, then run `make run` again:
  - installed locally:  rabbitmq-server -detached      (Debian/Ubuntu: apt-get install rabbitmq-server)
  - with Docker:        docker run -d -p 5672:5672 rabbitmq:3.13
  - elsewhere:          set AMQP_URI=amqp://user:pass@host:5672/vhost
MSG
  exit 1
fi

case "${DB:-sqlite}" in
  sqlite) ;;
  postgresql|postgres|pg)
    export PRM_PG_DSN="${PRM_PG_DSN:-postgresql://postgres@127.0.0.1:5432}"
    # Prints "export <SERVICE>_DATABASE_URL=..." for each service whose URL is not set.
    eval "$("$BIN/python" - <<'PY'
import os, shlex, sys
import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url
from services.registry import NAMES

base = make_url(os.environ["PRM_PG_DSN"]).set(drivername="postgresql+psycopg2")
try:
    admin = psycopg2.connect(
        host=base.host or "127.0.0.1", port=base.port or 5432, user=base.username or "postgres",
        password=base.password, dbname="postgres", connect_timeout=5,
    )
except psycopg2.OperationalError as exc:
    where = base.render_as_string(hide_password=True)
    problem = (str(exc).strip().splitlines() or ["refused"])[0]
    print(f"echo {shlex.quote(f'No PostgreSQL answers at {where}: {problem}')} >&2; exit 1")
    sys.exit(0)
admin.autocommit = True
with admin.cursor() as cursor:
    for name in NAMES:
        variable = f"{name.upper()}_DATABASE_URL"
        if os.environ.get(variable):
            continue
        database = f"prm_{name}"
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        url = base.set(database=database).render_as_string(hide_password=False)
        print(f"export {variable}={shlex.quote(url)}")
admin.close()
PY
)"
    ;;
  *) echo "DB must be sqlite or postgresql, not ${DB}" >&2; exit 2 ;;
esac

"$BIN/python" manage.py migrate
"$BIN/python" manage.py seed

# One broker user per process (services/common/broker.py), with random passwords made once
# into var/keys/broker-<name>: made through the management API, else rabbitmqctl, as the
# login of AMQP_URI. Where that cannot be done, every process shares AMQP_URI's login, and
# the banner says so. PRM_BROKER_SHARED=1 skips it.
PROCFILE=Procfile
export PRM_BROKER_USER_PREFIX="${PRM_BROKER_USER_PREFIX:-prm-}"
if [ "${PRM_BROKER_SHARED:-}" != "1" ] && BROKER_OUT="$("$BIN/python" manage.py broker apply 2>&1)"; then
  # Each line of the Procfile, run with its process's own login and the password that
  # `broker apply` gave it (services/common/broker.py shell_login): PRM_BROKER_PASSWORD_<NAME>
  # when set (read by the shell when the process starts), else its file; never the password
  # itself on a command line or in the Procfile.
  PROCFILE=var/Procfile.broker
  "$BIN/python" - "$PRM_BROKER_USER_PREFIX" > "$PROCFILE" <<'PY'
import re, sys
from services.common.broker import shell_login
for line in open("Procfile"):
    found = re.match(r"([a-z]+):\s*(.*)", line)
    if found:
        print(f"{found[1]}: {shell_login(found[1], sys.argv[1])} {found[2]}")
PY
  BROKER_LOGINS="one user per process (${PRM_BROKER_USER_PREFIX}<name>, passwords from PRM_BROKER_PASSWORD_<NAME> or var/keys/broker-<name>)"
else
  unset PRM_BROKER_USER_PREFIX
  BROKER_LOGINS="ONE SHARED LOGIN for every process (AMQP_URI's user): no per-process users
                ($(printf '%s' "${BROKER_OUT:-PRM_BROKER_SHARED=1}" | { grep -v Eventlet || true; } | tail -n 1))"
fi

if [ -f "${PRM_CONSOLE_DIR:-console/dist}/index.html" ]; then
  CONSOLE="http://127.0.0.1:${PORT}/      (web console: sign in with a user below)"
else
  CONSOLE="not built: install Node.js 20 and npm (apt-get install nodejs npm), then make console"
fi

cat <<MSG

  Partner management is starting on http://127.0.0.1:${PORT}  (store: ${DB:-sqlite})
    Console:    ${CONSOLE}
    API docs:   http://127.0.0.1:${PORT}/docs        (OpenAPI: /openapi.json)
    Health:     http://127.0.0.1:${PORT}/readyz
    Broker:     ${BROKER_LOGINS}
    Sign in:    admin (HQ admin), password in ${ADMIN_PASSWORD_FROM}
                (it is the admin's password from the run that first created the admin)
    Demo users: hz-admin, hz-sales, nb-sales, zj-admin, nj-admin, js-admin (partners);
                channel, marketing, salesops, finance, director, east-manager (华东区域经理) (HQ)
                -- password: demo-pass-2026
    Try:        curl -s -X POST http://127.0.0.1:${PORT}/api/v1/auth/login \\
                  -H 'Content-Type: application/json' -d '{"username":"hz-sales","password":"demo-pass-2026"}'

MSG
# The demo's business data (customers, leads, orders, payments, commission) goes in through
# the API as the demo users, once every service answers; a second run adds nothing.
if [ "${PRM_DEMO_BUSINESS:-1}" = "1" ]; then
  (
    "$BIN/python" - <<'PY' && "$BIN/python" manage.py seed --business --url "http://127.0.0.1:${PORT}" || true
import os, sys, time
import requests
url = f"http://127.0.0.1:{os.environ['PORT']}/readyz"
for _ in range(240):
    try:
        if requests.get(url, timeout=3).status_code == 200:
            sys.exit(0)
    except requests.RequestException:
        pass
    time.sleep(0.5)
sys.exit("demo business data: the stack did not become ready")
PY
  ) &
fi
exec "$BIN/honcho" start -f "$PROCFILE" -d .
