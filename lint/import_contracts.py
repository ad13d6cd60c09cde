"""An allow-list contract for import-linter, which has only deny-lists (``forbidden``).

A deny-list names the modules a package must not import, so a module added later is
allowed until someone remembers to list it. An allow-list names the few a package may
import, so anything new is refused until someone decides it is fine::

    [tool.importlinter]
    contract_types = ["allowed_imports: lint.import_contracts.AllowedImportsContract"]

    [[tool.importlinter.contracts]]
    name = "the gateway imports of services only the kit and each service's schemas"
    type = "allowed_imports"
    source_modules = ["gateway"]
    guarded_modules = ["services"]
    allowed_modules = ["services.common", "services.common.**", "services.*.schemas"]

Only direct imports count: ``services.filing.schemas`` may import what it needs, and the
gateway importing it is still allowed.
"""

from __future__ import annotations

from typing import Any

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.helpers import module_expressions_to_modules


class AllowedImportsContract(Contract):
    """``source_modules`` and their descendants import, of ``guarded_modules`` and their
    descendants, only the modules ``allowed_modules`` match.

    Options:
        source_modules:   module expressions of the importers held to the list.
        guarded_modules:  modules (packages) whose modules may be imported only if allowed.
        allowed_modules:  module expressions (``*``, ``**``) of the modules allowed; each
                          must match a module, so a misspelt one is an error, not a hole.
    """

    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    guarded_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.ModuleExpressionField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Kept when no direct import from a source to a guarded module is outside the
        list; the metadata lists each import that is, with its line numbers. A source or
        allowed expression that matches no module is a ValueError."""
        sources = _names(graph, self.source_modules, as_packages=True)
        guarded = set()
        for package in self.guarded_modules:
            guarded |= {package.name, *graph.find_descendants(package.name)}
        allowed = _names(graph, self.allowed_modules, as_packages=False)

        illegal = []
        for importer in sorted(sources):
            imported_modules = graph.find_modules_directly_imported_by(importer)
            for imported in sorted((imported_modules & guarded) - allowed):
                details = graph.get_import_details(importer=importer, imported=imported)
                illegal.append(
                    {
                        "importer": importer,
                        "imported": imported,
                        "line_numbers": tuple(detail["line_number"] for detail in details),
                    }
                )
        return ContractCheck(kept=not illegal, metadata={"illegal_imports": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Each import outside the list, as ``importer -> imported (l.N)``."""
        allowed = ", ".join(str(e) for e in self.allowed_modules)
        output.print_error(f"Imports outside the allowed list ({allowed}):", bold=False)
        output.new_line()
        for link in check.metadata["illegal_imports"]:
            lines = ", ".join(str(number) for number in link["line_numbers"])
            output.print_error(f"- {link['importer']} -> {link['imported']} (l.{lines})")
        output.new_line()


def _names(graph: ImportGraph, expressions: Any, *, as_packages: bool) -> set[str]:
    # Each expression must match: a misspelt one would otherwise check or allow nothing.
    modules = module_expressions_to_modules(
        graph, expressions, as_packages=as_packages, raise_if_unmatched=True
    )
    return {module.name for module in modules}
