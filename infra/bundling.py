"""Lambda bundles built without Docker: pip for the target platform, cached by content.

A bundle is the unzipped content of a function's or a layer's asset: binary wheels
for the Lambda platform (``manylinux`` for the configured architecture, CPython 3.11)
installed with ``pip --only-binary=:all:``, plus our own source directories.
Bundles are cached under ``.build/bundles/<key>/`` where the key hashes everything
that shapes the content (requirements, architecture, Python version, sources, recipe),
and the same key is the CDK asset hash, so a change to any of them changes the asset.

When the host's Python matches the runtime's (3.11), the bundle is byte-compiled with
``--invalidation-mode unchecked-hash``: CDK zips assets with fixed timestamps, which
would make timestamp-checked ``.pyc`` files stale, and the Lambda file system is
read-only, so without valid ``.pyc`` every cold start would compile every import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import constants

# Bump when the recipe below changes what a bundle contains.
RECIPE_VERSION = "3"

_PLATFORM_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}

# Directories and files that no import needs: package test suites, compiled caches,
# C/Cython sources and type stubs. Dropping them keeps the sklearn function under the
# 250 MB unzipped limit once byte-compiled.
_PRUNED_DIR_NAMES = frozenset({"__pycache__", "tests"})
_PRUNED_SUFFIXES = (".pyc", ".pyx", ".pxd", ".pxi", ".pyi", ".c", ".cpp", ".h", ".hpp")


@dataclass(frozen=True)
class BundleSpec:
    """What goes into one bundle.

    Parameters
    ----------
    name
        Human name, used in messages (``fraud_detection``, ``layer``).
    architecture
        Lambda architecture: ``arm64`` or ``x86_64``.
    requirements
        pip requirement strings, installed as binary wheels for the Lambda platform.
    sources
        ``(directory, destination)`` pairs copied into the bundle, ``destination``
        relative to the bundle's root ("" for the root itself).
    prefix
        Directory the whole content goes under ("python" for a layer).
    layer
        The layer attached to the function, counted with it against the size limit.
    """

    name: str
    architecture: str
    requirements: tuple[str, ...] = ()
    sources: tuple[tuple[Path, str], ...] = ()
    prefix: str = ""
    layer: BundleSpec | None = field(default=None, compare=False)

    @property
    def platform_machine(self) -> str:
        return _PLATFORM_MACHINE[self.architecture]


def library_requirements(project_dir: Path = constants.LIBRARY_PROJECT_DIR) -> tuple[str, ...]:
    """Return the library's runtime dependencies from its pyproject, minus what Lambda provides."""
    pyproject = tomllib.loads((project_dir / "pyproject.toml").read_text())
    dependencies = pyproject["project"]["dependencies"]
    return tuple(
        dep
        for dep in dependencies
        if canonicalize_name(Requirement(dep).name) not in constants.RUNTIME_PROVIDED_DISTRIBUTIONS
    )


def layer_spec(architecture: str) -> BundleSpec:
    """Return the bundle of the ``modelwatch`` layer: the library and its dependencies."""
    return BundleSpec(
        name="layer",
        architecture=architecture,
        requirements=library_requirements(),
        sources=((constants.LIBRARY_PACKAGE_DIR, "modelwatch"),),
        prefix="python",
    )


def function_spec(
    name: str,
    architecture: str,
    requirements: Iterable[str] = (),
    source_dir: Path = constants.PREDICT_FUNCTION_DIR,
) -> BundleSpec:
    """Return the bundle of a function: its handler directory and the runtime it needs, if any."""
    return BundleSpec(
        name=name,
        architecture=architecture,
        requirements=tuple(requirements),
        sources=((source_dir, ""),),
        layer=layer_spec(architecture),
    )


def _source_files(directory: Path) -> Iterator[Path]:
    if not directory.exists():
        return
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _PRUNED_DIR_NAMES)
        for name in sorted(files):
            if not name.endswith(".pyc"):
                yield Path(root) / name


def bundle_key(spec: BundleSpec) -> str:
    """Return the content key of a bundle: its cache directory name and CDK asset hash."""
    digest = hashlib.sha256()
    header = {
        "recipe": RECIPE_VERSION,
        "architecture": spec.architecture,
        "python": constants.PYTHON_RUNTIME_VERSION,
        "compiled_by": _compiling_python(),
        "requirements": sorted(spec.requirements),
        "prefix": spec.prefix,
        "runtime_provided": sorted(constants.RUNTIME_PROVIDED_DISTRIBUTIONS),
        "sources": [dest for _, dest in spec.sources],
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for directory, dest in spec.sources:
        for path in _source_files(directory):
            digest.update(f"\0{dest}/{path.relative_to(directory).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _compiling_python() -> str | None:
    """Return the host's major.minor when it may byte-compile for the runtime, else None."""
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    return host if host == constants.PYTHON_RUNTIME_VERSION else None


def _pip_install(requirements: tuple[str, ...], target: Path, machine: str) -> None:
    if not requirements:
        return
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input",
        "--target", str(target),
        "--platform", f"manylinux2014_{machine}",
        "--platform", f"manylinux_2_28_{machine}",
        "--implementation", "cp",
        "--python-version", constants.PYTHON_RUNTIME_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip failed for {list(requirements)}:\n{result.stdout}\n{result.stderr}")


def _remove_runtime_provided(site: Path) -> None:
    """Delete distributions the Lambda runtime ships (boto3 and its dependencies)."""
    for dist_info in site.glob("*.dist-info"):
        dist_name = dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if canonicalize_name(dist_name) not in constants.RUNTIME_PROVIDED_DISTRIBUTIONS:
            continue
        record = dist_info / "RECORD"
        top_dirs: set[Path] = set()
        if record.exists():
            for line in record.read_text().splitlines():
                relative = line.split(",", 1)[0]
                if not relative or relative.startswith(".."):
                    continue
                path = site / relative
                top_dirs.add(site / Path(relative).parts[0])
                path.unlink(missing_ok=True)
        for directory in top_dirs:
            if directory.is_dir() and not any(p.is_file() for p in directory.rglob("*")):
                shutil.rmtree(directory)
        shutil.rmtree(dist_info, ignore_errors=True)


def _prune(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        for name in list(dirnames):
            if name in _PRUNED_DIR_NAMES:
                shutil.rmtree(Path(dirpath) / name)
                dirnames.remove(name)
        for name in filenames:
            if name.endswith(_PRUNED_SUFFIXES):
                (Path(dirpath) / name).unlink()


def _copy_sources(spec: BundleSpec, content: Path) -> None:
    for directory, dest in spec.sources:
        target = content / dest
        target.mkdir(parents=True, exist_ok=True)
        for path in _source_files(directory):
            destination = target / path.relative_to(directory)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def _byte_compile(root: Path) -> None:
    if _compiling_python() is None:
        return
    command = [
        sys.executable, "-m", "compileall", "-q", "-j", "0",
        "--invalidation-mode", "unchecked-hash", str(root),
    ]  # fmt: skip
    # compileall exits non-zero on files that are not valid 3.11 syntax (e.g. py2 leftovers
    # in some wheels); those files are never imported, so that is not an error here.
    subprocess.run(command, capture_output=True, check=False)


def build_bundle(spec: BundleSpec, cache_dir: Path = constants.BUNDLE_CACHE_DIR) -> Path:
    """Return the directory holding the bundle's content, building it if it is not cached."""
    bundle_dir = cache_dir / bundle_key(spec)
    if (bundle_dir / ".complete").exists():
        return bundle_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".building-") as tmp:
        staging = Path(tmp) / "bundle"
        content = staging / spec.prefix if spec.prefix else staging
        content.mkdir(parents=True)
        _pip_install(spec.requirements, content, spec.platform_machine)
        _remove_runtime_provided(content)
        _prune(content)
        _copy_sources(spec, content)
        _byte_compile(staging)
        (staging / ".complete").write_text(json.dumps({"name": spec.name}))
        try:
            staging.rename(bundle_dir)
        except OSError:  # built concurrently by another process
            if not (bundle_dir / ".complete").exists():
                raise
    return bundle_dir


def bundle_size_bytes(path: Path) -> int:
    """Return the unzipped size of a bundle directory (what counts against Lambda's limit)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != ".complete")


def bundle_report(spec: BundleSpec) -> tuple[int, int]:
    """Return ``(bundle bytes, bundle + layer bytes)``, building what is not cached."""
    size = bundle_size_bytes(build_bundle(spec))
    total = size + (bundle_size_bytes(build_bundle(spec.layer)) if spec.layer else 0)
    return size, total


def _copy_bundle(source: Path, output_dir: Path) -> None:
    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
            return dst
        except OSError:
            return shutil.copy2(src, dst)

    shutil.copytree(
        source,
        output_dir,
        dirs_exist_ok=True,
        copy_function=link_or_copy,
        ignore=shutil.ignore_patterns(".complete"),
    )


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Bundles on the host with pip; CDK falls back to the Docker image only if this fails."""

    def __init__(self, spec: BundleSpec) -> None:
        self.spec = spec

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        source = build_bundle(self.spec)
        size, total = bundle_report(self.spec)
        limit = constants.LAMBDA_UNZIPPED_LIMIT_BYTES
        print(
            f"bundle {self.spec.name}: {size / constants.MIB:.1f} MB unzipped "
            f"(function + layer: {total / constants.MIB:.1f} MB, limit {limit // constants.MIB} MB)",
            file=sys.stderr,
            flush=True,
        )
        if total >= limit:
            raise RuntimeError(
                f"bundle {self.spec.name} with its layer is {total / constants.MIB:.1f} MB unzipped, "
                f"over Lambda's {limit // constants.MIB} MB limit"
            )
        _copy_bundle(source, Path(output_dir))
        return True


def bundled_code(spec: BundleSpec, asset_dir: Path) -> aws_lambda.AssetCode:
    """Return Lambda code for the bundle, its asset hashed by the bundle's content key."""
    return aws_lambda.AssetCode.from_asset(
        str(asset_dir),
        asset_hash=bundle_key(spec),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(constants.BUNDLE_IMAGE),
            # jsii calls try_bundle(output_dir, options) positionally; the stub spells the options out.
            local=cast(cdk.ILocalBundling, LocalPipBundling(spec)),
        ),
    )
