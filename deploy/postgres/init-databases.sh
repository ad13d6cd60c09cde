#!/usr/bin/env bash
# One database per service, all owned by the application role.
#
# Mounted into /docker-entrypoint-initdb.d by docker-compose.yml: the postgres
# image runs it once, when the data directory is empty, as $POSTGRES_USER (the
# role "prm" there, which therefore owns every database). Safe to run again:
# a database that already exists is left alone.
#
# Adding a service: add its database to the list below (and its
# <SERVICE>_DATABASE_URL to docker-compose.yml). On an existing volume, run
# this script again: docker compose exec postgres bash /docker-entrypoint-initdb.d/10-init-databases.sh
set -euo pipefail

databases="partners filing orders commission notify"
owner="${POSTGRES_USER:?POSTGRES_USER is not set}"

for db in $databases; do
  echo "init-databases: ensuring database ${db} owned by ${owner}"
  psql -v ON_ERROR_STOP=1 --username "$owner" --dbname "${POSTGRES_DB:-$owner}" \
       --set=db="$db" --set=owner="$owner" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL
done
