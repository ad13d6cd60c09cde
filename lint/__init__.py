"""Checks of the code itself that ``make lint`` runs beside ruff."""
