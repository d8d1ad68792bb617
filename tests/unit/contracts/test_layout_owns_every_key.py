"""No module but ``contracts/layout.py`` spells an S3 prefix or partition: the layout has one owner.

Every string literal of the library, the handlers, the CDK app and the local harness is
read (docstrings aside); one that starts with a bucket prefix or holds a partition
(``model=``, ``dt=``, ``hour=``) outside the layout module fails this test, naming the place.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCANNED = ("layers/modelwatch/modelwatch", "functions", "infra", "local/modelwatch_local", "app.py")
OWNER = REPO / "layers/modelwatch/modelwatch/contracts/layout.py"
# How an S3 key of the platform starts, and the partitions inside one.
KEY_START = re.compile(r"^/?(events|rejected|labels|errors|profiles|reports|state|manifests|models)/")
IN_KEY = re.compile(r"/(events|rejected|labels|profiles|reports|manifests)/")  # models/ is also an API path
PARTITION = re.compile(r"(^|/)(model|dt|hour|job|window|report-version)=")


def _python_files() -> Iterator[Path]:
    for entry in SCANNED:
        path = REPO / entry
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _spelled_keys(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _docstrings(tree)  # and the literal parts of f-strings, judged with their f-string
    skipped |= {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            starts = (
                bool(node.values)
                and isinstance(node.values[0], ast.Constant)
                and bool(KEY_START.match(parts[0]))
            )
            if starts or any(_holds_a_key(part) for part in parts):
                yield node.lineno, "".join(parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            text = node.value
            if KEY_START.match(text) or _holds_a_key(text):
                yield node.lineno, text


def _holds_a_key(text: str) -> bool:
    return bool(IN_KEY.search(text) or PARTITION.search(text))


def test_only_the_layout_module_spells_keys_and_partitions() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for path in _python_files()
        if path != OWNER
        for line, text in _spelled_keys(path)
    ]
    assert offenders == [], "S3 keys belong to modelwatch.contracts.layout:\n" + "\n".join(offenders)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    # The check above must be able to fail: a module spelling keys the usual ways is caught.
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docstrings may say events/model=m/."""\n'
        'PREFIX = "events/"\n'
        'def key(m, h):\n    return f"rejected/dt={h}/"\n'
        'OTHER = f"{m}/hour=07/"\n'
        'URI = f"s3://{b}/manifests/{m}.json"\n'
        'FINE = ("/v1/models/{model}/predict", "events", "rejected")\n'
    )
    assert sorted(line for line, _ in _spelled_keys(sample)) == [2, 4, 5, 6]
