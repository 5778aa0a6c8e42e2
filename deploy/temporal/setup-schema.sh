#!/bin/sh
# One-shot of docker-compose.yml (image temporalio/admin-tools, same release as the server):
# creates Temporal's two databases on temporal-postgres and brings their schemas to the
# version this release ships. Safe on every `docker compose up`: an existing database is
# kept, setup-schema -v 0.0 only creates the version table, and update-schema applies just
# the missing versions (so moving both image tags together migrates the schema).
#
# Environment: POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, SQL_PASSWORD (read by
# temporal-sql-tool itself, so it never shows in a process list), DBNAME, VISIBILITY_DBNAME.
set -eu

: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
host=${POSTGRES_SEEDS:-temporal-postgres}
port=${DB_PORT:-5432}
user=${POSTGRES_USER:-temporal}
schema_dir=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$host" -p "$port" -u "$user" "$@"
}

# database-name:schema-kind
for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db=${pair%%:*}
  kind=${pair#*:}
  if out=$(sql --db "$db" create 2>&1); then
    echo "created database $db"
  elif printf '%s\n' "$out" | grep -q "already exists"; then
    echo "database $db exists"
  else
    printf '%s\n' "$out" >&2
    exit 1
  fi
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$schema_dir/$kind/versioned"
  echo "schema of $db is up to date"
done
