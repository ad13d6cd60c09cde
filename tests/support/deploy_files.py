"""The deploy files as data: docker-compose.yml parsed, deploy/k8s rendered by kustomize,
the console's nginx configuration read."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def render_k8s() -> list[dict]:
    """``kubectl kustomize deploy/k8s`` as documents (skips the test without kubectl)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render deploy/k8s with `kubectl kustomize`")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize deploy/k8s failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def environment(service: dict) -> dict[str, str]:
    """A compose service's environment as a mapping, whichever form it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (``matchLabels`` and ``matchExpressions``)
    selects an object with these labels. An empty selector selects every object, as a
    PodDisruptionBudget's does in policy/v1."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in expressions:
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


# --------------------------------------------------------------------------- nginx

#: ``${NAME}`` as the nginx image's envsubst replaces it (only for names it is given).
TEMPLATE_VARIABLE = re.compile(r"\$\{(\w+)\}")
NGINX_TOKEN = re.compile(
    r"""\s*(?:(?P<comment>\#[^\n]*)|'(?P<single>(?:[^'\\]|\\.)*)'|"(?P<double>(?:[^"\\]|\\.)*)"
    |(?P<punct>[{};])|(?P<word>[^\s{};'"]+))""",
    re.VERBOSE,
)


@dataclass
class Directive:
    """One nginx directive: ``name args...;`` or ``name args... { block }``."""

    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive:
        found = self.all(name)
        assert len(found) == 1, f"{self.name} {self.args}: {len(found)} {name} directives"
        return found[0]

    def headers(self) -> dict[str, str]:
        """``add_header`` name -> value (lower-cased names)."""
        return {d.args[0].lower(): d.args[1] for d in self.all("add_header")}


def parse_nginx(text: str) -> list[Directive]:
    """An nginx configuration as directives (quotes removed, escapes kept)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = NGINX_TOKEN.match(text, position)
        if not match or match.end() == position:
            if text[position:].strip():
                raise ValueError(f"cannot read the configuration at {text[position:][:40]!r}")
            break
        position = match.end()
        for kind in ("single", "double", "punct", "word"):
            if match.group(kind) is not None:
                tokens.append((kind, match.group(kind)))
                break

    def block(start: int, closing: bool) -> tuple[list[Directive], int]:
        directives: list[Directive] = []
        words: list[str] = []
        i = start
        while i < len(tokens):
            kind, value = tokens[i]
            if kind == "punct" and value == ";":
                directives.append(Directive(words[0], words[1:]))
                words = []
            elif kind == "punct" and value == "{":
                inner, i = block(i + 1, True)
                directives.append(Directive(words[0], words[1:], inner))
                words = []
            elif kind == "punct" and value == "}":
                assert closing and not words, "unbalanced braces"
                return directives, i
            else:
                words.append(value)
            i += 1
        assert not closing and not words, "unterminated block or directive"
        return directives, i

    return block(0, False)[0]


def render_template(text: str, env: dict[str, str], keep: str = "") -> str:
    """The nginx image's envsubst: ``${NAME}`` replaced for the names in ``env`` that match
    ``keep`` (NGINX_ENVSUBST_FILTER), every other dollar left as it is."""
    given = {name: value for name, value in env.items() if re.search(keep, name)}

    def one(match: re.Match) -> str:
        return given.get(match.group(1), match.group(0))

    return TEMPLATE_VARIABLE.sub(one, text)
