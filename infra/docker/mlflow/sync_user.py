"""The registry sync's MLflow user: created or brought in line at every start, before the server runs.

``entrypoint.sh`` runs this against the basic-auth database of ``MLFLOW_AUTH_CONFIG_PATH``
(the one the server uses) with ``MLFLOW_SYNC_USERNAME`` and ``MLFLOW_SYNC_PASSWORD``
(Secrets Manager). The user is created if missing; otherwise its password is set to the
secret's when it differs and its admin flag is cleared, so the secret is the source of
truth. Then its grants are upserted (MLflow 3.17's per-user grants, wildcard grain):

- ``default_permission = READ`` (server-wide) lets it list and read models, versions and
  their artifacts (``model-versions/get-artifact``);
- ``EDIT`` on every registered model and model version lets it set their tags (the stage
  tags it records). MLflow cannot narrow this: ``EDIT`` on a registered model also lets
  it set aliases, rename the model, update descriptions and create versions;
- ``DENY`` on every other top-level resource type (experiments with their runs, traces,
  logged models and artifacts; prompts; scorers; gateway secrets, endpoints and model
  definitions; MCP servers): the sync never reads them.

It cannot delete anything, manage users or permissions, or read experiments and runs.
Grants added by hand to this user are left as they are. Exit status 0, or 1 with a
message on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Final

# (resource type, pattern, permission); see the module docstring for why each.
GRANTS: Final = (
    ("registered_model", "*", "EDIT"),
    ("registered_model_version", "*", "EDIT"),
    ("experiment", "*", "DENY"),
    ("prompt", "*", "DENY"),
    ("scorer", "*", "DENY"),
    ("gateway_secret", "*", "DENY"),
    ("gateway_endpoint", "*", "DENY"),
    ("gateway_model_definition", "*", "DENY"),
    ("mcp_server", "*", "DENY"),
)


def provision_sync_user(database_uri: str, username: str, password: str, admin_username: str) -> str:
    """Create or update ``username`` with ``password`` and the ``GRANTS``; return what was done.

    Raises
    ------
    ValueError
        ``username`` is the admin's.
    mlflow.MlflowException
        MLflow refused the user name, the password or a grant.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    if username == admin_username:
        raise ValueError(f"the sync user must not be the admin ({admin_username!r})")
    store = SqlAlchemyStore()
    store.init_db(database_uri)  # type: ignore[no-untyped-call]
    done = "exists"
    if not store.has_user(username, use_primary=True):
        try:
            store.create_user(username, password, is_admin=False)
            done = "created"
        except MlflowException:
            if not store.has_user(username, use_primary=True):  # not a concurrent start's create
                raise
    if done == "exists" and not store.authenticate_user(username, password, use_primary=True):
        store.update_user(username, password=password)
        done = "password updated"
    if store.get_user(username).is_admin:
        store.update_user(username, is_admin=False)
        done += ", admin flag cleared"
    for resource_type, pattern, permission in GRANTS:
        store.grant_user_permission(username, resource_type, pattern, permission)
    return done


def main() -> int:
    from mlflow.server.auth.config import read_auth_config

    try:
        username = os.environ["MLFLOW_SYNC_USERNAME"]
        password = os.environ["MLFLOW_SYNC_PASSWORD"]
        config = read_auth_config()
        done = provision_sync_user(config.database_uri, username, password, config.admin_username or "")
    except Exception as error:  # one line for the container log, then a non-zero exit
        print(
            f"mlflow-entrypoint: cannot provision the sync user: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    grants = ", ".join(f"{permission} {kind}" for kind, _, permission in GRANTS)
    print(f"mlflow-entrypoint: sync user {username!r} {done}; grants: {grants}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
