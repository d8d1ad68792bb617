#!/bin/sh
# Starts MLflow with the basic-auth app: PostgreSQL backend (RDS), artifacts proxied to S3.
# ECS injects DB_HOST, DB_PORT, DB_NAME, DB_USERNAME, DB_PASSWORD (Secrets Manager),
# MLFLOW_AUTH_ADMIN_PASSWORD (Secrets Manager), ARTIFACTS_DESTINATION and ALLOWED_HOSTS.
set -eu

: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USERNAME:?}" "${DB_PASSWORD:?}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?}" "${ARTIFACTS_DESTINATION:?}"

urlencode() { python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
DB_URI="postgresql://$(urlencode "$DB_USERNAME"):$(urlencode "$DB_PASSWORD")@${DB_HOST}:${DB_PORT}/${DB_NAME}?sslmode=require"

# The basic-auth app keeps users and permissions in the same database.
AUTH_CONFIG="$HOME/basic_auth.ini"
umask 077
cat > "$AUTH_CONFIG" <<INI
[mlflow]
default_permission = READ
database_uri = ${DB_URI}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$AUTH_CONFIG"

exec mlflow server \
    --app-name basic-auth \
    --backend-store-uri "$DB_URI" \
    --artifacts-destination "$ARTIFACTS_DESTINATION" \
    --host 0.0.0.0 \
    --port 5000 \
    --workers "${MLFLOW_WORKERS:-2}" \
    --allowed-hosts "${ALLOWED_HOSTS:-*}"
