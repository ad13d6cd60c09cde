"""The web console against the API it is written for: its client's types
(``console/src/api/schema.d.ts``) are what ``openapi-typescript`` makes of the live
``/openapi.json`` today, so a change of the API that the console has not followed fails
here; and the console's own unit tests (Vitest) pass. Both need the console's packages
(``make console``, which ``make install`` runs); CI has them, elsewhere their absence skips."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "console"
GENERATOR = CONSOLE / "node_modules" / ".bin" / "openapi-typescript"
VITEST = CONSOLE / "node_modules" / ".bin" / "vitest"
REGENERATE = (
    ".venv/bin/python -c \"from gateway.app import create_app; open('var/openapi.json', 'wb')"
    ".write(create_app().test_client().get('/openapi.json').data)\" && cd console && "
    "npx openapi-typescript ../var/openapi.json -o src/api/schema.d.ts"
)


def packages_or_skip(tool: Path) -> None:
    if tool.exists() and shutil.which("node"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{tool.name} is missing: `make install` must build the console (make console)")
    pytest.skip("the console's packages are not installed (make console; Node.js 20 and npm)")


def test_the_console_s_api_types_are_those_of_the_live_document(tmp_path: Path) -> None:
    packages_or_skip(GENERATOR)
    document = tmp_path / "openapi.json"
    document.write_bytes(create_app().test_client().get("/openapi.json").data)
    generated = tmp_path / "schema.d.ts"
    done = subprocess.run(
        [str(GENERATOR), str(document), "-o", str(generated)],
        cwd=CONSOLE, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    committed = (CONSOLE / "src" / "api" / "schema.d.ts").read_text()
    assert generated.read_text() == committed, (
        f"console/src/api/schema.d.ts differs from the API's document: regenerate it ({REGENERATE})"
        " and make the console follow the change"
    )


def test_the_console_s_unit_tests_pass() -> None:
    packages_or_skip(VITEST)
    done = subprocess.run(
        [str(VITEST), "run", "--reporter=dot"],
        cwd=CONSOLE, capture_output=True, text=True, timeout=300, check=False,
        env=os.environ | {"CI": "1", "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
