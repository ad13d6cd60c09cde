"""The allow-list import contract (``lint.import_contracts``) on small import graphs."""

from __future__ import annotations

import grimp
import pytest

from lint.import_contracts import AllowedImportsContract

MODULES = [
    "gateway",
    "gateway.app",
    "gateway.api",
    "gateway.api.filing",
    "services",
    "services.registry",
    "services.common",
    "services.common.errors",
    "services.filing",
    "services.filing.schemas",
    "services.filing.domain",
]


def graph_with(*imports: tuple[str, str, int]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in MODULES:
        graph.add_module(module)
    for importer, imported, line in imports:
        graph.add_import(
            importer=importer, imported=imported, line_number=line, line_contents="import"
        )
    return graph


def gateway_contract(allowed: list[str] | None = None) -> AllowedImportsContract:
    return AllowedImportsContract(
        name="the gateway imports of services only the kit and each service's schemas",
        session_options={},
        contract_options={
            "source_modules": ["gateway"],
            "guarded_modules": ["services"],
            "allowed_modules": allowed
            or ["services.common", "services.common.**", "services.*.schemas"],
        },
    )


def test_kit_and_schemas_imported_by_the_gateway_keep_the_contract() -> None:
    graph = graph_with(
        ("gateway.app", "services.common.errors", 3),
        ("gateway.api.filing", "services.filing.schemas", 9),
        ("gateway.api.filing", "services.common", 10),
    )
    assert gateway_contract().check(graph, verbose=False).kept


def test_any_other_module_of_services_breaks_it_with_its_line() -> None:
    graph = graph_with(
        ("gateway.app", "services.registry", 27),
        ("gateway.api.filing", "services.filing.domain", 12),
        ("gateway.api.filing", "services.filing.schemas", 9),
    )
    check = gateway_contract().check(graph, verbose=False)
    assert not check.kept
    assert check.metadata["illegal_imports"] == [
        {
            "importer": "gateway.api.filing",
            "imported": "services.filing.domain",
            "line_numbers": (12,),
        },
        {"importer": "gateway.app", "imported": "services.registry", "line_numbers": (27,)},
    ]


def test_only_direct_imports_count() -> None:
    # The schemas a gateway module imports may import what they need.
    graph = graph_with(
        ("gateway.api.filing", "services.filing.schemas", 9),
        ("services.filing.schemas", "services.filing.domain", 4),
    )
    assert gateway_contract().check(graph, verbose=False).kept


def test_a_misspelt_allowed_module_is_an_error_not_a_hole() -> None:
    graph = graph_with()
    with pytest.raises(ValueError, match=r"services\.comon"):
        gateway_contract(["services.comon", "services.*.schemas"]).check(graph, verbose=False)
