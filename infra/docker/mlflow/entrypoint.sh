#!/bin/sh
# Starts MLflow with the basic-auth app: PostgreSQL backend (RDS, TLS required), artifacts proxied to S3.
#
# ECS injects, from Secrets Manager: DB_USERNAME, DB_PASSWORD, MLFLOW_AUTH_ADMIN_PASSWORD,
# MLFLOW_FLASK_SERVER_SECRET_KEY (the static key of the auth app's CSRF protection, the same in
# every task and worker), MLFLOW_SYNC_USERNAME and MLFLOW_SYNC_PASSWORD; as plain settings:
# DB_HOST, DB_PORT, DB_NAME, ARTIFACTS_DESTINATION, MLFLOW_AUTH_ADMIN_USERNAME and ALLOWED_HOSTS.
# LISTEN_HOST (0.0.0.0), LISTEN_PORT (5000) and MLFLOW_WORKERS (2) are for running it elsewhere;
# MLFLOW_SERVER_ENABLE_JOB_EXECUTION (false here, MLflow's default is true) turns MLflow's job runner on.
#
# Before the server starts, sync_user.py creates or updates the registry sync's user (least
# privilege; see docs/registry.md). A missing variable stops the container with exit code 64.
set -eu

missing=""
for name in DB_HOST DB_PORT DB_NAME DB_USERNAME DB_PASSWORD ARTIFACTS_DESTINATION \
    MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY MLFLOW_SYNC_USERNAME MLFLOW_SYNC_PASSWORD; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "mlflow-entrypoint: required variables are not set:$missing (the ECS task definition injects them)" >&2
    exit 64
fi
here="$(dirname "$0")"

urlencode() { python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# psycopg2 named explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg (3), which the image lacks.
DB_URI="postgresql+psycopg2://$(urlencode "$DB_USERNAME"):$(urlencode "$DB_PASSWORD")@${DB_HOST}:${DB_PORT}/${DB_NAME}?sslmode=require"

# The basic-auth app keeps users and permissions in the same database. Without its credential
# cache every authenticated request re-checks the password hash (scrypt) several times: ~1.7 s per
# request measured in the entrypoint test, ~0.1 s with the cache. The price: a password changed or a
# user deleted through the API stays valid on the other workers for at most auth_cache_ttl_seconds.
AUTH_CONFIG="$HOME/basic_auth.ini"
umask 077
cat > "$AUTH_CONFIG" <<INI
[mlflow]
default_permission = READ
database_uri = ${DB_URI}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${AUTH_CACHE_TTL_SECONDS:-60}
INI
export MLFLOW_AUTH_CONFIG_PATH="$AUTH_CONFIG"
# From the environment rather than the command line, so the password is not in the process list.
export MLFLOW_BACKEND_STORE_URI="$DB_URI"
# MLflow's server-side job runner (GenAI scorers, trace roll-ups, prompt optimisation) starts a
# runner and seven Huey consumers beside the workers when the backend is a database; modelwatch
# uses none of it, and it would more than double the task's memory (docs/registry.md, "Sizing").
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

python "$here/sync_user.py"
unset MLFLOW_SYNC_PASSWORD DB_PASSWORD

exec mlflow server \
    --app-name basic-auth \
    --artifacts-destination "$ARTIFACTS_DESTINATION" \
    --host "${LISTEN_HOST:-0.0.0.0}" \
    --port "${LISTEN_PORT:-5000}" \
    --workers "${MLFLOW_WORKERS:-2}" \
    --allowed-hosts "${ALLOWED_HOSTS:-*}"
