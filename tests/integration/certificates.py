"""Self-signed TLS certificates for servers the integration tests run on 127.0.0.1 (openssl CLI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OPENSSL = shutil.which("openssl")


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write ``server.crt`` and ``server.key`` (RSA 2048, one day, SAN ``IP:host``) into ``directory``.

    Returns
    -------
    tuple of Path
        The certificate and its private key (mode 0600).
    """
    assert OPENSSL is not None, "openssl is not installed"
    certificate, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    return certificate, key
