"""No module imports itself back: the package graph of the library and the CDK app has no cycle.

``lint-imports`` (run by ``make test``) checks the layers and the forbidden imports of
``pyproject.toml``; this test checks what its sibling rule cannot see, a package and one
of its own modules importing each other (``metrics/__init__`` <-> ``metrics.monitoring_metrics``).
"""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph) -> list[str]:
    found = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                found.append(f"{module} -> {' -> '.join(back)}")
    return found


def test_no_module_of_the_library_or_the_cdk_app_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("modelwatch", "infra")

    assert _cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b"):
        graph.add_module(module)
    graph.add_import(importer="pkg", imported="pkg.a")
    graph.add_import(importer="pkg.a", imported="pkg")

    assert _cycles(graph) == ["pkg -> pkg.a -> pkg", "pkg.a -> pkg -> pkg.a"]
