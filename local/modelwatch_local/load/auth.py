"""How the load profile signs its requests to a deployed API: SigV4 (IAM) or a JWT bearer token.

The local stack takes no authentication; a deployed API takes what ``cdk.json``'s ``auth`` says
(README, "Call the endpoint"). Nothing here runs against AWS in this repository's tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, Literal

AuthKind = Literal["none", "sigv4", "jwt"]
AUTH_KINDS: Final[tuple[AuthKind, ...]] = ("none", "sigv4", "jwt")

# Adds headers for (method, url, body) to a request's own headers.
Signer = Callable[[str, str, bytes, dict[str, str]], dict[str, str]]


def _no_auth(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    return headers


def sigv4_signer(region: str | None = None, service: str = "execute-api") -> Signer:
    """Sign each request with the environment's AWS credentials (botocore's ``SigV4Auth``).

    The caller needs ``execute-api:Invoke`` on the API. Credentials are resolved once, as boto3
    does (environment, profile, instance role); temporary ones are refreshed by botocore.
    """
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("SigV4 needs AWS credentials (aws configure, or AWS_* variables)")
    region_name = region or session.region_name
    if not region_name:
        raise RuntimeError("SigV4 needs a region: set AWS_REGION or MODELWATCH_LOAD_REGION")

    def sign(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(credentials, service, region_name).add_auth(request)
        return dict(request.headers.items())

    return sign


def bearer_signer(token: str) -> Signer:
    """Send ``Authorization: Bearer <token>`` (a JWT from the issuer ``cdk.json`` names)."""
    if not token:
        raise RuntimeError("JWT auth needs a token: set MODELWATCH_LOAD_TOKEN")

    def sign(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "authorization": f"Bearer {token}"}

    return sign


def signer_from_environment() -> Signer:
    """The signer ``MODELWATCH_LOAD_AUTH`` names (``none``, ``sigv4`` or ``jwt``)."""
    kind = os.environ.get("MODELWATCH_LOAD_AUTH", "none")
    if kind == "sigv4":
        return sigv4_signer(os.environ.get("MODELWATCH_LOAD_REGION"))
    if kind == "jwt":
        return bearer_signer(os.environ.get("MODELWATCH_LOAD_TOKEN", ""))
    if kind != "none":
        raise RuntimeError(f"MODELWATCH_LOAD_AUTH must be one of {', '.join(AUTH_KINDS)}, not {kind!r}")
    return _no_auth
