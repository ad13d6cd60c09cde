"""The deployment files say what the application needs.

docker-compose.yml, deploy/Dockerfile, deploy/console, deploy/postgres/init-databases.sh and
deploy/k8s are parsed (and the kustomization rendered with `kubectl kustomize`,
offline), never run: nothing here needs Docker or a cluster.

The services are those of services/common/registry.py (``NAMES``): compose and k8s must run
exactly those, plus the migration step, the gateway and the web console (nginx serving
console/dist, its own image).
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services.common.registry import NAMES
from tests.support.deploy_files import (
    Directive,
    environment,
    load_compose,
    named,
    of_kind,
    parse_nginx,
    pod_spec,
    render_k8s,
    render_template,
    selects,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_DATABASES = ROOT / "deploy" / "postgres" / "init-databases.sh"
K8S_DIR = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = K8S_DIR / "secret.example.yaml"

#: One database per service, named after it.
SERVICE_DATABASES = set(NAMES)
#: The URL key of each service's database.
DATABASE_URL_KEYS = {f"{name.upper()}_DATABASE_URL" for name in NAMES}
INFRASTRUCTURE = {"rabbitmq", "postgres"}
APP_IMAGE = "prm"
APP_UID = 10001
DB_OWNER = "prm"
SECRET_NAME = "prm-secrets"
NAMESPACE = "prm"
CLUSTER_SCOPED_KINDS = {"Namespace"}
WORKLOAD_KINDS = {"Deployment", "Job"}
#: The web console: nginx with the built console, in compose and k8s under this name.
CONSOLE = "console"
CONSOLE_DIR = ROOT / "deploy" / "console"
CONSOLE_DOCKERFILE = CONSOLE_DIR / "Dockerfile"
CONSOLE_TEMPLATE = CONSOLE_DIR / "default.conf.template"
CONSOLE_IMAGE = "prm-console"
#: nginxinc/nginx-unprivileged's nginx user, and the port it listens on.
CONSOLE_UID = 101
CONSOLE_PORT = 8080
#: Where the console's nginx writes: temporary files, the configuration rendered at start.
CONSOLE_WRITABLE = ("/tmp", "/etc/nginx/conf.d", "/var/cache/nginx")  # noqa: S108

MIGRATE = ["python", "manage.py", "migrate"]
GATEWAY = ["gunicorn", "-c", "gateway/gunicorn.conf.py", "gateway.wsgi:app"]
SECRET_VARIABLE = re.compile(r"PASSWORD|SECRET|KEY|_PASS$")
#: Secrets of optional features: off unless given, so their compose default is empty.
OPTIONAL_SECRETS = {"PRM_SMTP_PASSWORD"}
#: notify's SMTP settings (``NotifySettings``, services/common/config.py); the password
#: is a secret.
SMTP_SETTINGS = {
    "PRM_SMTP_HOST",
    "PRM_SMTP_PORT",
    "PRM_SMTP_TLS",
    "PRM_SMTP_USER",
    "PRM_SMTP_FROM",
}
SMTP_PASSWORD = "PRM_SMTP_PASSWORD"
#: ``${NAME}``, ``${NAME:-default}`` or ``${NAME:?message}`` (required: no value, no start).
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def database_urls(names: set[str] | dict) -> set[str]:
    """The <SERVICE>_DATABASE_URL keys among these variable names."""
    return {name for name in names if name.endswith("_DATABASE_URL")}


def services_in_repo() -> set[str]:
    """The services that exist as packages under services/ (common is the kit)."""
    return {
        path.name
        for path in (ROOT / "services").iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name != "common"
    }


def served_service(command: list[str]) -> str | None:
    """`python manage.py run <name>` -> name; anything else -> None."""
    if command[:3] == ["python", "manage.py", "run"] and len(command) == 4:
        return command[3]
    return None


def as_argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


def resolve(value: str, given: dict[str, str] | None = None) -> str:
    """Compose interpolation with the defaults written in the file."""
    given = given or {}

    def one(match: re.Match) -> str:
        if match.group("name") in given:
            return given[match.group("name")]
        if (match.group("op") or "").endswith("-"):
            return match.group("default")
        return ""

    return INTERPOLATION.sub(one, str(value))


def required_variables() -> set[str]:
    """The variables docker-compose.yml refuses to start without (``${NAME:?...}``)."""
    return {
        m.group("name")
        for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text())
        if (m.group("op") or "").endswith("?")
    }


def database_of(url: str) -> tuple[str | None, str]:
    parts = urlsplit(resolve(url))
    return parts.hostname, parts.path.lstrip("/")


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def app_services(compose: dict) -> dict[str, dict]:
    """The services running the application's image (not the broker, the database or the
    console's nginx)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if name not in INFRASTRUCTURE and name != CONSOLE
    }


@pytest.fixture(scope="module")
def nameko_services(app_services: dict[str, dict]) -> dict[str, dict]:
    """Compose service name -> definition, for each `manage.py run <name>`."""
    found = {}
    for service in app_services.values():
        name = served_service(as_argv(service.get("command")))
        if name:
            assert name not in found, f"{name} is run by more than one compose service"
            found[name] = service
    return found


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_compose_app_services_share_one_image_built_from_deploy_dockerfile(app_services):
    assert {"migrate", "gateway", *NAMES} <= set(app_services)
    images = {
        (s.get("image"), json.dumps(s.get("build"), sort_keys=True)) for s in app_services.values()
    }
    assert len(images) == 1, f"app services differ in image/build: {images}"
    service = next(iter(app_services.values()))
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (
        ROOT / service["build"]["context"] / service["build"]["dockerfile"]
    ).resolve() == DOCKERFILE


def test_compose_gateway_runs_gunicorn_and_publishes_port_8000(compose):
    gateway = compose["services"]["gateway"]
    assert as_argv(gateway["command"]) == GATEWAY
    published = set()
    for port in gateway.get("ports", []):
        if isinstance(port, dict):
            published.add((str(port.get("published")), str(port["target"])))
        else:
            *_, host, container = str(port).split(":")
            published.add((host, container.split("/")[0]))
    assert ("8000", "8000") in published
    assert environment(gateway).get("PORT", "8000") == "8000"


def test_compose_migrate_runs_manage_py_migrate_once(compose):
    migrate = compose["services"]["migrate"]
    assert as_argv(migrate["command"]) == MIGRATE
    # a one-shot: restarting it would run migrations again and again
    assert str(migrate.get("restart", "no")) == "no"
    assert depends_on(migrate) == {
        "postgres": "service_healthy",
        "rabbitmq": "service_healthy",
    }
    migrating = [
        name for name, s in compose["services"].items() if as_argv(s.get("command")) == MIGRATE
    ]
    assert migrating == ["migrate"], "migrations must run in one place only"


def test_compose_runs_exactly_the_registered_services_the_gateway_and_the_console(
    compose, app_services, nameko_services
):
    assert NAMES, "services/common/registry.py lists no service"
    assert set(nameko_services) == set(NAMES)
    assert set(app_services) == {*NAMES, "migrate", "gateway"}
    assert set(compose["services"]) == {*INFRASTRUCTURE, CONSOLE, *app_services}
    for name in NAMES:
        # the compose service is named after the Nameko service it runs
        assert app_services[name] is nameko_services[name], name


def test_compose_services_start_only_after_migrate_completed(nameko_services):
    assert set(nameko_services) == set(NAMES)
    for name, service in nameko_services.items():
        assert depends_on(service).get("migrate") == "service_completed_successfully", name


def test_compose_gateway_waits_for_every_service_to_be_healthy(compose, nameko_services):
    gateway_deps = depends_on(compose["services"]["gateway"])
    for name in {*NAMES, *nameko_services}:
        assert gateway_deps.get(name) == "service_healthy", name


def test_compose_long_running_services_have_healthchecks(compose):
    services = compose["services"]
    one_shots = {
        dep
        for service in services.values()
        for dep, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    assert one_shots == {"migrate"}
    for name, service in services.items():
        if name in one_shots:
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable", False), name
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_compose_healthchecks_ask_the_right_thing(compose, nameko_services):
    services = compose["services"]
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert set(nameko_services) == set(NAMES)
    for name, service in nameko_services.items():
        assert service["healthcheck"]["test"] == ["CMD", "python", "manage.py", "ping", name]
    gateway_check = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "urllib.request" in gateway_check
    assert "/readyz" in gateway_check
    assert "curl" not in gateway_check


def test_compose_runs_only_services_that_exist(nameko_services):
    assert set(nameko_services) <= services_in_repo()
    assert set(NAMES) <= services_in_repo()


def test_compose_gives_each_service_its_own_database(compose, nameko_services):
    created = databases_created_by_init_script()
    migrate_env = environment(compose["services"]["migrate"])
    # migrate migrates every registered service, and reaches no other database
    assert database_urls(migrate_env) == DATABASE_URL_KEYS
    assert set(nameko_services) == set(NAMES)
    for name, service in nameko_services.items():
        key = f"{name.upper()}_DATABASE_URL"
        url = environment(service)[key]
        assert database_of(url) == ("postgres", name)
        assert name in created
        assert migrate_env.get(key) == url, f"migrate does not migrate {name}"
        others = {k for k in environment(service) if k.endswith("_DATABASE_URL")} - {key}
        assert not others, f"{name} can reach other services' databases: {others}"
    assert not {k for k in environment(compose["services"]["gateway"]) if "DATABASE" in k}


def test_compose_mounts_the_init_script_and_the_rabbitmq_config(compose):
    def mounts(service: str) -> dict[str, str]:
        found = {}
        for volume in compose["services"][service].get("volumes", []):
            source, target, *_ = volume.split(":")
            found[target] = source
        return found

    postgres = mounts("postgres")
    init = [
        source
        for target, source in postgres.items()
        if target.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert [(ROOT / s).resolve() for s in init] == [INIT_DATABASES]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_USER"] == DB_OWNER

    rabbitmq = mounts("rabbitmq")
    for source in rabbitmq.values():
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    assert any(t.startswith("/etc/rabbitmq/conf.d/") and t.endswith(".conf") for t in rabbitmq)


def test_compose_ships_no_secret_value_every_secret_is_required(compose):
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_VARIABLE.search(key):
                assert INTERPOLATION.fullmatch(value), f"{name}.{key} is a literal secret"
    secrets = [
        (m.group("name"), m.group("op") or "", m.group("default"))
        for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text())
        if SECRET_VARIABLE.search(m.group("name"))
    ]
    assert secrets
    for variable, op, default in secrets:
        if variable in OPTIONAL_SECRETS:
            # no placeholder that would be sent to a real server: empty means "none"
            assert not default, f"{variable} of an optional feature defaults to a value"
            continue
        # A default would be a key anybody can read here: required, or nothing starts.
        assert op == ":?", f"{variable} has a default instead of being required"


def test_compose_runs_every_process_in_production(app_services):
    # In production the settings refuse missing, short and placeholder keys.
    for name, service in app_services.items():
        assert environment(service)["PRM_ENV"] == "production", name


def published_ports(service: dict) -> list[tuple[str | None, str, str]]:
    """(host address or None for every address, host port, container port)."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((port.get("host_ip"), str(port["published"]), str(port["target"])))
            continue
        parts = resolve(str(port)).split(":")
        address = ":".join(parts[:-2]) or None if len(parts) > 2 else None
        found.append((address, parts[-2] if len(parts) > 1 else "", parts[-1].split("/")[0]))
    return found


def test_compose_gateway_trusts_the_consoles_nginx_alone(compose):
    """Clients come through the console's nginx, which appends their address to
    X-Forwarded-For: the gateway trusts that one proxy, so that sign-in throttling keys on
    the client and not on nginx. A client reaching the gateway's own port could name any
    address there, so that port is published on this machine only."""
    gateway = compose["services"]["gateway"]
    assert resolve(environment(gateway)["PRM_TRUSTED_PROXIES"]) == "1"
    ports = published_ports(gateway)
    assert ports
    for address, _, _ in ports:
        assert address == "127.0.0.1", f"the gateway is published on {address or 'every address'}"
    gateway_port = environment(gateway).get("PORT", "8000")
    proxies = {
        name
        for name, service in compose["services"].items()
        if "PRM_GATEWAY_URL" in environment(service)
    }
    assert proxies == {CONSOLE}, "one proxy in front of the gateway"
    url = urlsplit(resolve(environment(compose["services"][CONSOLE])["PRM_GATEWAY_URL"]))
    assert (url.scheme, url.hostname, url.path) == ("http", "gateway", "")
    assert str(url.port) == gateway_port


def test_compose_gives_the_admin_password_to_migrate_only(compose):
    holders = {
        name
        for name, service in compose["services"].items()
        if "PRM_ADMIN_PASSWORD" in environment(service)
    }
    assert holders == {"migrate"}


def test_compose_gives_the_secrets_key_to_the_services_that_seal_and_migrate_only(compose):
    # it opens the channel secrets notify stores and the personal data filing and partners
    # store: no other process needs it
    holders = {
        name
        for name, service in compose["services"].items()
        if "PRM_SECRETS_KEY" in environment(service)
    }
    assert holders == {"migrate", "notify", "filing", "partners"}
    keys = {environment(compose["services"][name])["PRM_SECRETS_KEY"] for name in holders}
    assert len(keys) == 1, "the services and migrate must seal with the same key"
    assert "PRM_SECRETS_KEY" in required_variables()


def test_compose_gives_smtp_settings_to_notify_with_empty_defaults(compose):
    notify = environment(compose["services"]["notify"])
    for key in (*SMTP_SETTINGS, SMTP_PASSWORD):
        assert key in notify, f"notify has no {key}"
        assert INTERPOLATION.fullmatch(notify[key]), f"{key} is not read from the environment"
        assert resolve(notify[key]) == "", f"{key} has a default: SMTP is off unless given"
    holders = {
        name
        for name, service in compose["services"].items()
        if SMTP_PASSWORD in environment(service)
    }
    assert holders == {"notify"}


def test_compose_settings_are_accepted_by_the_services(compose, app_services, monkeypatch):
    """The defaults in docker-compose.yml, with random values for the required secrets,
    parse as the services read them."""
    from services.common.config import get_settings
    from services.common.config import load_notify_settings as load_settings

    given = {name: secrets.token_hex(32) for name in required_variables()}
    for name, service in app_services.items():
        env = {key: resolve(value, given) for key, value in environment(service).items()}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = get_settings.__wrapped__()
        assert settings.production, name
        if name == "notify":
            notify = load_settings()
            assert not notify.smtp_configured
            assert not notify.webhook_allow_private
        for key in env:
            monkeypatch.delenv(key)


# --------------------------------------------------------------------------- postgres init


def databases_created_by_init_script() -> dict[str, str]:
    """Run the init script with a fake psql; database -> owner it creates."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed: cannot run deploy/postgres/init-databases.sh")
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = Path(tmp, "bin")
        bin_dir.mkdir()
        log = Path(tmp, "psql.jsonl")
        fake = bin_dir / "psql"
        fake.write_text(
            f"#!{sys.executable}\n"
            "import json, sys\n"
            f"with open({str(log)!r}, 'a') as out:\n"
            "    out.write(json.dumps({'args': sys.argv[1:], 'sql': sys.stdin.read()}) + '\\n')\n"
        )
        fake.chmod(0o755)
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "POSTGRES_USER": DB_OWNER,
            "POSTGRES_DB": DB_OWNER,
        }
        subprocess.run(
            [bash, str(INIT_DATABASES)], env=env, check=True, capture_output=True, timeout=30
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()]

    created: dict[str, str] = {}
    for call in calls:
        assert "ON_ERROR_STOP=1" in call["args"], "psql must stop at the first error"
        sql = call["sql"]
        for arg in call["args"]:
            if arg.startswith("--set="):
                var, value = arg.removeprefix("--set=").split("=", 1)
                sql = sql.replace(f":'{var}'", f"'{value}'")
        for db, owner in re.findall(r"CREATE DATABASE %I OWNER %I',\s*'(\w+)',\s*'(\w+)'", sql):
            created[db] = owner
        for db, owner in re.findall(r'CREATE DATABASE\s+"?(\w+)"?\s+OWNER\s+"?(\w+)"?', sql):
            created[db] = owner
    return created


def test_postgres_init_script_creates_each_service_database_owned_by_prm():
    created = databases_created_by_init_script()
    assert set(created) >= SERVICE_DATABASES
    assert set(created.values()) == {DB_OWNER}


# --------------------------------------------------------------------------- image


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def test_dockerfile_runs_as_a_numeric_non_root_user():
    instructions = dockerfile_instructions()
    users = [i for i, (name, _) in enumerate(instructions) if name == "USER"]
    assert users, "the image would run as root"
    last = users[-1]
    user = instructions[last][1].split(":")[0]
    # numeric, so that Kubernetes can verify runAsNonRoot against the image
    assert user.isdigit(), f"USER {user} is not numeric"
    assert int(user) == APP_UID
    starts = [i for i, (name, _) in enumerate(instructions) if name in {"CMD", "ENTRYPOINT"}]
    assert starts and all(i > last for i in starts), "the process would start before USER"
    assert not any(name == "RUN" for name, _ in instructions[last:]), "RUN after USER"


def test_dockerfile_installs_the_project_on_python_311_slim():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app") in instructions
    assert ("EXPOSE", "8000") in instructions
    runs = " ".join(arguments for name, arguments in instructions if name == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs)
    assert json.loads(dict(instructions)["CMD"]) == GATEWAY


def test_dockerfile_downloads_no_binaries():
    instructions = dockerfile_instructions()
    runs = " ".join(arguments for name, arguments in instructions if name == "RUN")
    assert not re.search(r"\b(curl|wget)\b", runs)
    assert not any(name == "ADD" and "://" in arguments for name, arguments in instructions)


def ignore_patterns(path: Path) -> list[str]:
    return [
        line.strip().rstrip("/")
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_dockerignore_keeps_local_state_out_of_the_image():
    patterns = set(ignore_patterns(DOCKERIGNORE))
    assert {".venv", "var", ".git", ".pytest_cache"} <= patterns
    # installed and built for this machine: each image installs and builds its own
    assert {"console/node_modules", "console/dist"} <= patterns


# --------------------------------------------------------------------------- kubernetes


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render_k8s()


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def argv(container: dict) -> list[str]:
    return list(container.get("command", [])) + list(container.get("args", []))


def image_name(image: str) -> str:
    """registry:5000/team/prm:1.2@sha256:... -> prm"""
    image = image.split("@")[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":")[0]


def deployments_by_service(objects: list[dict]) -> dict[str, dict]:
    found = {}
    for deployment in of_kind(objects, "Deployment"):
        for container in pod_spec(deployment)["containers"]:
            name = served_service(argv(container))
            if name:
                assert name not in found, f"{name} is run by more than one Deployment"
                found[name] = deployment
    return found


def migrate_container(objects: list[dict]) -> dict:
    (job,) = (j for j in of_kind(objects, "Job") if any(argv(c) == MIGRATE for c in containers(j)))
    (container,) = pod_spec(job)["containers"]
    return container


def secret_template_keys() -> set[str]:
    template = yaml.safe_load(SECRET_TEMPLATE.read_text())
    assert template["kind"] == "Secret"
    assert template["metadata"]["name"] == SECRET_NAME
    return set(template.get("stringData", {})) | set(template.get("data", {}))


def env_names(container: dict) -> set[str]:
    return {item["name"] for item in container.get("env", [])}


def test_k8s_every_object_is_in_namespace_prm(rendered):
    assert rendered
    for obj in rendered:
        if obj["kind"] in CLUSTER_SCOPED_KINDS:
            continue
        assert obj["metadata"].get("namespace") == NAMESPACE, (obj["kind"], obj["metadata"]["name"])
    assert [ns["metadata"]["name"] for ns in of_kind(rendered, "Namespace")] == [NAMESPACE]


def test_k8s_every_object_and_pod_is_labelled_part_of_prm(rendered):
    for obj in rendered:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "prm", (
            obj["kind"],
            obj["metadata"]["name"],
        )
        if obj["kind"] in WORKLOAD_KINDS:
            pod_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert pod_labels.get("app.kubernetes.io/part-of") == "prm"


def is_console(workload: dict) -> bool:
    return (workload["kind"], workload["metadata"]["name"]) == ("Deployment", CONSOLE)


def app_workloads(objects: list[dict]) -> list[dict]:
    """The workloads running the application's image: all but the console's nginx."""
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS and not is_console(o)]


def test_k8s_workloads_run_the_prm_image_as_non_root(rendered):
    workloads = [o for o in rendered if o["kind"] in WORKLOAD_KINDS]
    assert len(of_kind(workloads, "Deployment")) >= 2
    assert [w for w in workloads if is_console(w)], "no console"
    for workload in workloads:
        # the console runs its own image (deploy/console/Dockerfile) as nginx's user
        image, uid = (CONSOLE_IMAGE, CONSOLE_UID) if is_console(workload) else (APP_IMAGE, APP_UID)
        pod_context = pod_spec(workload).get("securityContext", {})
        for container in containers(workload):
            where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            assert image_name(container["image"]) == image, where
            assert ":" in container["image"].rsplit("/", 1)[-1], f"{where}: image has no tag"
            context = {**pod_context, **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", uid) == uid, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert "ALL" in context.get("capabilities", {}).get("drop", []), where


def test_k8s_read_only_containers_get_writable_tmp_and_var(rendered):
    for workload in (o for o in rendered if o["kind"] in WORKLOAD_KINDS):
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        writable = CONSOLE_WRITABLE if is_console(workload) else ("/tmp", "/app/var")  # noqa: S108
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for path in writable:
                assert path in mounts, f"{where} cannot write {path}"
                assert "emptyDir" in volumes[mounts[path]], where


def test_k8s_workloads_set_resource_requests_and_limits(rendered):
    for workload in (o for o in rendered if o["kind"] in WORKLOAD_KINDS):
        for container in containers(workload):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    workload["metadata"]["name"],
                    bound,
                )


def test_k8s_migrations_run_in_a_job_and_never_in_the_replicas(rendered):
    jobs = [j for j in of_kind(rendered, "Job") if any(argv(c) == MIGRATE for c in containers(j))]
    assert len(jobs) == 1, "exactly one Job must run the migrations"
    job = jobs[0]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in {"Never", "OnFailure"}
    for deployment in of_kind(rendered, "Deployment"):
        for container in containers(deployment):
            assert "migrate" not in argv(container), deployment["metadata"]["name"]


def test_k8s_runs_exactly_the_registered_services_the_gateway_and_the_console(rendered):
    services = deployments_by_service(rendered)
    assert set(services) == set(NAMES)
    deployments = {d["metadata"]["name"] for d in of_kind(rendered, "Deployment")}
    assert deployments == {*NAMES, "gateway", CONSOLE}
    for name, deployment in services.items():
        assert deployment["metadata"]["name"] == name
        (container,) = pod_spec(deployment)["containers"]
        assert container["name"] == name


def test_k8s_each_service_has_its_own_file_listed_in_the_kustomization():
    resources = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["resources"]
    for name in NAMES:
        assert f"{name}.yaml" in resources, f"{name}.yaml is not a resource"
        documents = [d for d in yaml.safe_load_all((K8S_DIR / f"{name}.yaml").read_text()) if d]
        deployments = [d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"]
        assert deployments == [name], f"{name}.yaml declares {deployments}"


def test_k8s_service_deployments_are_probed_with_an_rpc_ping(rendered):
    services = deployments_by_service(rendered)
    assert set(services) == set(NAMES)
    for name, deployment in services.items():
        assert deployment["spec"]["replicas"] >= 2, name
        (container,) = pod_spec(deployment)["containers"]
        ping = ["python", "manage.py", "ping", name]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"] == ping, (name, probe)
            # the ping may take a whole RPC_TIMEOUT (10 s) before it answers
            assert container[probe]["timeoutSeconds"] > 10, (name, probe)


def test_k8s_runs_only_services_that_exist_and_the_same_as_compose(rendered, nameko_services):
    services = set(deployments_by_service(rendered))
    assert services <= services_in_repo()
    assert services == set(nameko_services)


def test_k8s_gateway_is_served_on_port_80_and_probed_over_http(rendered):
    gateway = named(rendered, "Deployment", "gateway")
    assert gateway["spec"]["replicas"] >= 2
    (container,) = pod_spec(gateway)["containers"]
    assert argv(container) == GATEWAY
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == 8000, probe

    service = named(rendered, "Service", "gateway")
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert ports.get(port["targetPort"], port["targetPort"]) == 8000
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert gateway["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_k8s_hpa_scales_the_gateway_on_cpu(rendered):
    (hpa,) = of_kind(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gateway")
    named(rendered, "Deployment", "gateway")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # utilisation is measured against the CPU request
    (container,) = pod_spec(named(rendered, "Deployment", "gateway"))["containers"]
    assert container["resources"]["requests"]["cpu"]


def test_k8s_broker_and_database_are_operator_run_clusters(rendered):
    (rabbitmq,) = of_kind(rendered, "RabbitmqCluster")
    assert rabbitmq["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rabbitmq["spec"]["replicas"] == 3

    clusters = [
        c for c in of_kind(rendered, "Cluster") if c["apiVersion"] == "postgresql.cnpg.io/v1"
    ]
    assert len(clusters) == 1
    assert clusters[0]["spec"]["instances"] == 3


def test_k8s_declares_every_service_database_on_the_cnpg_cluster(rendered):
    cluster = next(
        c for c in of_kind(rendered, "Cluster") if c["apiVersion"] == "postgresql.cnpg.io/v1"
    )
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert initdb["owner"] == DB_OWNER
    declared = {initdb["database"]}
    for database in of_kind(rendered, "Database"):
        assert database["apiVersion"] == "postgresql.cnpg.io/v1"
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        assert database["spec"]["owner"] == DB_OWNER
        declared.add(database["spec"]["name"])
    assert declared >= SERVICE_DATABASES


def test_k8s_renders_no_secret(rendered):
    assert not of_kind(rendered, "Secret"), "secrets are created out of band, never rendered"
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    listed = kustomization.get("resources", []) + kustomization.get("components", [])
    assert SECRET_TEMPLATE.name not in listed
    assert not kustomization.get("secretGenerator")


def test_k8s_env_references_exist(rendered):
    secret_keys = secret_template_keys()
    config_maps = {
        cm["metadata"]["name"]: cm.get("data", {}) for cm in of_kind(rendered, "ConfigMap")
    }
    checked = 0
    for workload in (o for o in rendered if o["kind"] in WORKLOAD_KINDS):
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, where
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == SECRET_NAME, where
                checked += 1
            for item in container.get("env", []):
                ref = item.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    if ref["secretKeyRef"]["name"] == broker_secret(container):
                        # the process's own broker login (its own Secret, none other's)
                        assert ref["secretKeyRef"]["key"] in {"username", "password"}, where
                        checked += 1
                        continue
                    assert ref["secretKeyRef"]["name"] == SECRET_NAME, (where, item["name"])
                    assert ref["secretKeyRef"]["key"] in secret_keys, (where, item["name"])
                    checked += 1
                if "configMapKeyRef" in ref:
                    data = config_maps.get(ref["configMapKeyRef"]["name"])
                    assert data is not None, (where, item["name"])
                    assert ref["configMapKeyRef"]["key"] in data, (where, item["name"])
                    checked += 1
    assert checked


def test_k8s_config_runs_in_production_with_keys_from_the_secret(rendered):
    (config,) = of_kind(rendered, "ConfigMap")
    assert config["data"]["PRM_ENV"] == "production"
    assert not {
        key for key in config["data"] if SECRET_VARIABLE.search(key) or key.endswith("_URI")
    }
    for workload in app_workloads(rendered):
        for container in containers(workload):
            assert {"AMQP_URI", "PRM_JWT_SECRET", "PRM_INTERNAL_KEY"} <= env_names(container)


def test_k8s_gives_the_secrets_key_to_the_services_that_seal_and_migrate_only(rendered):
    holders = {
        deployment["metadata"]["name"]
        for deployment in of_kind(rendered, "Deployment")
        if any("PRM_SECRETS_KEY" in env_names(c) for c in containers(deployment))
    }
    services = deployments_by_service(rendered)
    sealing = ("notify", "filing", "partners")
    assert holders == {services[name]["metadata"]["name"] for name in sealing}
    assert "PRM_SECRETS_KEY" in env_names(migrate_container(rendered))


def test_k8s_each_service_reads_only_its_own_database_and_migrate_reads_all(rendered):
    services = deployments_by_service(rendered)
    assert set(services) == set(NAMES)
    migrate = migrate_container(rendered)
    assert database_urls(env_names(migrate)) == DATABASE_URL_KEYS
    for name, deployment in services.items():
        (container,) = pod_spec(deployment)["containers"]
        urls = {n for n in env_names(container) if n.endswith("_DATABASE_URL")}
        assert urls == {f"{name.upper()}_DATABASE_URL"}, name
        assert f"{name.upper()}_DATABASE_URL" in env_names(migrate), f"migrate misses {name}"
    (gateway,) = pod_spec(named(rendered, "Deployment", "gateway"))["containers"]
    assert not {n for n in env_names(gateway) if n.endswith("_DATABASE_URL")}


def test_k8s_gives_the_admin_password_to_the_migrate_job_only(rendered):
    holders = {
        (workload["kind"], workload["metadata"]["name"])
        for workload in rendered
        if workload["kind"] in WORKLOAD_KINDS
        for container in containers(workload)
        if "PRM_ADMIN_PASSWORD" in env_names(container)
    }
    (job,) = (j for j in of_kind(rendered, "Job") if any(argv(c) == MIGRATE for c in containers(j)))
    assert holders == {("Job", job["metadata"]["name"])}


def test_k8s_secret_template_and_its_create_command_hold_every_database_url():
    keys = secret_template_keys()
    assert database_urls(keys) == DATABASE_URL_KEYS
    # the documented `kubectl create secret` command creates exactly the template's keys
    comments = "\n".join(
        line.lstrip("#").strip()
        for line in SECRET_TEMPLATE.read_text().splitlines()
        if line.startswith("#")
    )
    assert "kubectl -n prm create secret generic prm-secrets" in comments
    created = re.findall(r"--from-literal=(\w+)=", comments)
    assert len(created) == len(set(created)), "a key is given twice"
    assert set(created) == keys
    for name in NAMES:
        urls = re.findall(rf"--from-literal={name.upper()}_DATABASE_URL=\"([^\"]+)\"", comments)
        assert [database_of(url)[1] for url in urls] == [name], name


def test_k8s_gives_smtp_settings_to_notify_and_its_password_from_the_secret(rendered):
    (config,) = of_kind(rendered, "ConfigMap")
    assert set(config["data"]) >= SMTP_SETTINGS
    assert SMTP_PASSWORD not in config["data"]
    assert SMTP_PASSWORD in secret_template_keys()
    holders = set()
    for workload in (o for o in rendered if o["kind"] in WORKLOAD_KINDS):
        for container in containers(workload):
            for item in container.get("env", []):
                if item["name"] == SMTP_PASSWORD:
                    holders.add(workload["metadata"]["name"])
                    assert "value" not in item
                    assert item["valueFrom"]["secretKeyRef"]["key"] == SMTP_PASSWORD
    assert holders == {"notify"}
    (notify,) = pod_spec(deployments_by_service(rendered)["notify"])["containers"]
    config_refs = {s["configMapRef"]["name"] for s in notify["envFrom"] if "configMapRef" in s}
    assert config["metadata"]["name"] in config_refs


def test_k8s_config_is_accepted_by_the_services(rendered, monkeypatch):
    """The ConfigMap's values parse as the services read them (keys from the secret)."""
    from services.common.config import get_settings
    from services.common.config import load_notify_settings as load_settings

    (config,) = of_kind(rendered, "ConfigMap")
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    for key in ("PRM_JWT_SECRET", "PRM_INTERNAL_KEY"):
        monkeypatch.setenv(key, secrets.token_hex(32))
    monkeypatch.delenv(SMTP_PASSWORD, raising=False)
    settings = get_settings.__wrapped__()
    assert settings.production
    notify = load_settings()
    assert not notify.smtp_configured
    assert not notify.webhook_allow_private


def test_k8s_gateway_trusts_the_one_ingress_in_front(rendered):
    (config,) = of_kind(rendered, "ConfigMap")
    assert config["data"]["PRM_TRUSTED_PROXIES"] == "1"


# --------------------------------------------------------------------------- scaling out

RABBITMQ_CONF = ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf"
HOSTNAME = "kubernetes.io/hostname"
#: What only a cluster of several broker nodes needs (deploy/k8s, not compose's one node).
CLUSTER_ONLY_SETTINGS = {
    "cluster_partition_handling",
    "quorum_queue.continuous_membership_reconciliation.enabled",
    "quorum_queue.continuous_membership_reconciliation.target_group_size",
}
#: What compose's node sets and the operator sets itself, from the container's limit.
COMPOSE_ONLY_SETTINGS = {"vm_memory_high_watermark.relative", "log.console", "log.console.level"}
QUANTITY = re.compile(r"^(?P<number>\d+)(?P<unit>Ki|Mi|Gi|Ti|K|M|G|T)?$")
UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def rabbitmq_settings(text: str) -> dict[str, str]:
    """``key = value`` lines of a rabbitmq.conf, comments and blank lines left out."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key.strip() not in settings, f"{key.strip()} is set twice"
        settings[key.strip()] = value.strip()
    return settings


def bytes_of(quantity: str | int) -> int:
    """A Kubernetes memory quantity (``1Gi``, ``512M``) in bytes."""
    match = QUANTITY.match(str(quantity))
    assert match, f"unreadable quantity {quantity!r}"
    return int(match.group("number")) * UNITS[match.group("unit")]


def broker_pod_labels(cluster: dict) -> dict[str, str]:
    """The labels the RabbitMQ Cluster Operator gives the pods of a RabbitmqCluster (its
    StatefulSet is not rendered here: the operator makes it)."""
    return {
        "app.kubernetes.io/name": cluster["metadata"]["name"],
        "app.kubernetes.io/component": "rabbitmq",
        "app.kubernetes.io/part-of": "rabbitmq",
    }


def pod_groups(objects: list[dict]) -> dict[str, dict[str, str]]:
    """Every set of pods the rendered objects make, by "Kind/name", with their labels."""
    groups = {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in WORKLOAD_KINDS
    }
    for cluster in of_kind(objects, "RabbitmqCluster"):
        groups[f"RabbitmqCluster/{cluster['metadata']['name']}"] = broker_pod_labels(cluster)
    return groups


def selected_groups(selector: dict, objects: list[dict]) -> set[str]:
    return {group for group, labels in pod_groups(objects).items() if selects(selector, labels)}


def budget_of(group: str, objects: list[dict]) -> dict:
    """The one PodDisruptionBudget that selects exactly this group of pods."""
    budgets = [
        b
        for b in of_kind(objects, "PodDisruptionBudget")
        if group in selected_groups(b["spec"]["selector"], objects)
    ]
    assert len(budgets) == 1, f"{group}: {len(budgets)} PodDisruptionBudgets select its pods"
    (budget,) = budgets
    others = selected_groups(budget["spec"]["selector"], objects) - {group}
    assert not others, f"{group}'s PodDisruptionBudget also selects {others}"
    return budget


def evictable(budget: dict, replicas: int) -> int:
    """How many of ``replicas`` healthy pods the budget lets be evicted at once."""
    spec = budget["spec"]
    assert ("maxUnavailable" in spec) != ("minAvailable" in spec), budget["metadata"]["name"]
    for key in ("maxUnavailable", "minAvailable"):
        assert isinstance(spec.get(key, 0), int), f"{budget['metadata']['name']}: a count, not %"
    if "maxUnavailable" in spec:
        return min(spec["maxUnavailable"], replicas)
    return max(replicas - spec["minAvailable"], 0)


def test_k8s_every_deployment_runs_two_replicas_and_a_budget_of_its_own_keeps_one(rendered):
    """A node drained or the cluster scaled down may evict one replica of a service or of
    the gateway at a time, never all of them: each Deployment runs 2 replicas or more and
    exactly one PodDisruptionBudget selects its pods and no other's."""
    deployments = of_kind(rendered, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {*NAMES, "gateway", CONSOLE}
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(rendered, "HorizontalPodAutoscaler")
    }
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        replicas = deployment["spec"]["replicas"]
        assert replicas >= 2, f"{name} runs {replicas} replica(s)"
        if name in autoscalers:
            replicas = autoscalers[name]["spec"]["minReplicas"]
            assert replicas >= 2, f"{name}'s autoscaler may go down to {replicas}"
        budget = budget_of(f"Deployment/{name}", rendered)
        assert budget["apiVersion"] == "policy/v1"
        # 1 <= evictable: a drain is never blocked for good; < replicas: one stays up
        assert 1 <= evictable(budget, replicas) < replicas, name
    # no budget is left behind that selects no pods (a renamed Deployment's, say)
    for budget in of_kind(rendered, "PodDisruptionBudget"):
        assert selected_groups(budget["spec"]["selector"], rendered), budget["metadata"]["name"]


def spreads_over_nodes(spec: dict, group: str, objects: list[dict]) -> bool:
    """Whether the pod spec spreads its own pods, and only those, over nodes: a topology
    spread constraint, or pod anti-affinity, on the node's host name."""
    selectors = [
        c["labelSelector"]
        for c in spec.get("topologySpreadConstraints", [])
        if c["topologyKey"] == HOSTNAME and c.get("labelSelector") and c["maxSkew"] == 1
    ]
    anti = spec.get("affinity", {}).get("podAntiAffinity", {})
    terms = [
        t["podAffinityTerm"]
        for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
    ]
    terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    selectors += [t["labelSelector"] for t in terms if t["topologyKey"] == HOSTNAME]
    return any(selected_groups(selector, objects) == {group} for selector in selectors)


def test_k8s_every_deployment_and_the_broker_spread_their_pods_over_nodes(rendered):
    """Losing one node stops one replica of each, not all: the app Deployments and the
    broker's nodes are spread over nodes by host name."""
    for deployment in of_kind(rendered, "Deployment"):
        name = deployment["metadata"]["name"]
        assert spreads_over_nodes(pod_spec(deployment), f"Deployment/{name}", rendered), name
    (rabbitmq,) = of_kind(rendered, "RabbitmqCluster")
    group = f"RabbitmqCluster/{rabbitmq['metadata']['name']}"
    assert spreads_over_nodes(rabbitmq["spec"], group, rendered), "broker nodes may share a node"


def test_k8s_broker_is_an_odd_cluster_set_up_for_quorum_queues(rendered):
    """Three nodes (a majority survives one lost), a budget that never evicts a majority,
    the settings quorum queues need on the image it runs, and no Topology Operator Queue:
    the services declare their queues' type themselves."""
    (rabbitmq,) = of_kind(rendered, "RabbitmqCluster")
    replicas = rabbitmq["spec"]["replicas"]
    assert replicas >= 3 and replicas % 2 == 1, f"{replicas} broker nodes"
    majority = replicas // 2 + 1
    budget = budget_of(f"RabbitmqCluster/{rabbitmq['metadata']['name']}", rendered)
    assert 1 <= evictable(budget, replicas) <= replicas - majority, "a drain takes the majority"

    settings = rabbitmq_settings(rabbitmq["spec"]["rabbitmq"]["additionalConfig"])
    assert settings.get("cluster_partition_handling") == "pause_minority", "partition handling"
    # RabbitMQ recommends 3 times the write-ahead log's limit (512 MiB by default) in memory
    wal = int(settings["raft.wal_max_size_bytes"])
    limit = bytes_of(rabbitmq["spec"]["resources"]["limits"]["memory"])
    assert 3 * wal <= limit, f"a write-ahead log of {wal} bytes wants more than {limit}"
    # queues declared before every node joined grow to their size (RabbitMQ 3.13 and later)
    prefix = "quorum_queue.continuous_membership_reconciliation"
    assert settings[f"{prefix}.enabled"] == "true"
    target = int(settings[f"{prefix}.target_group_size"])
    assert target % 2 == 1 and 3 <= target <= replicas
    version = re.match(r"(\d+)\.(\d+)", rabbitmq["spec"]["image"].rsplit(":", 1)[1])
    assert version and (int(version[1]), int(version[2])) >= (3, 13), rabbitmq["spec"]["image"]
    assert not of_kind(rendered, "Queue"), "queues are declared by the services' own code"


def test_k8s_labels_let_the_queue_move_apply_the_broker_and_the_job_alone(rendered):
    """README "From classic queues to quorum queues" applies the broker's objects with
    ``-l app.kubernetes.io/name=prm-rabbitmq``, then everything but the services and the
    gateway with ``-l app.kubernetes.io/component!=service,...!=gateway``: the labels
    must keep those selections what the steps say."""

    def label(obj: dict, key: str) -> str | None:
        return obj["metadata"].get("labels", {}).get(f"app.kubernetes.io/{key}")

    broker = {o["kind"] for o in rendered if label(o, "name") == "prm-rabbitmq"}
    assert broker == {"RabbitmqCluster", "PodDisruptionBudget"}
    rest = [o for o in rendered if label(o, "component") not in {"service", "gateway"}]
    kinds = {o["kind"] for o in rest}
    assert {"Job", "ConfigMap", "RabbitmqCluster", "Cluster"} <= kinds
    # the console (nginx) may start: it reaches no broker and no database
    started = {o["metadata"]["name"] for o in of_kind(rest, "Deployment")}
    assert started <= {CONSOLE}, f"step 3 would start {started - {CONSOLE}} again"


def test_compose_and_k8s_broker_settings_agree():
    """deploy/rabbitmq/rabbitmq.conf (compose's one node) and the RabbitmqCluster's
    additionalConfig set the same values, except what only a cluster needs and what the
    operator works out itself."""
    compose = rabbitmq_settings(RABBITMQ_CONF.read_text())
    documents = yaml.safe_load_all((K8S_DIR / "rabbitmq.yaml").read_text())
    (cluster,) = [d for d in documents if d and d["kind"] == "RabbitmqCluster"]
    k8s = rabbitmq_settings(cluster["spec"]["rabbitmq"]["additionalConfig"])
    assert set(k8s) - set(compose) == CLUSTER_ONLY_SETTINGS
    assert set(compose) - set(k8s) == COMPOSE_ONLY_SETTINGS
    for key in set(compose) & set(k8s):
        assert compose[key] == k8s[key], key
    compose_image = load_compose()["services"]["rabbitmq"]["image"]
    assert compose_image == cluster["spec"]["image"], "compose and k8s run other RabbitMQ versions"


def test_compose_runs_one_broker_node_whose_name_and_data_survive_a_restart(compose):
    """Quorum queues work on one node, but their members are named after the node: the
    node's name (from the container's hostname) and its data directory must outlive the
    container, or a new container starts with queues whose member is gone."""
    rabbitmq = compose["services"]["rabbitmq"]
    assert rabbitmq.get("hostname"), "the node's name would follow a random container id"
    assert (rabbitmq.get("deploy") or {}).get("replicas", 1) == 1
    volumes = dict(reversed(resolve(v).split(":")[:2]) for v in rabbitmq["volumes"])
    assert volumes["/var/lib/rabbitmq"] in (compose.get("volumes") or {}), "data in a named volume"
    for name, service in compose["services"].items():
        uri = environment(service).get("AMQP_URI")
        if uri:
            # AMQP_URI may list several nodes (";"); compose has the one
            hosts = {urlsplit(node).hostname for node in resolve(uri).split(";")}
            assert hosts == {"rabbitmq"}, name


# --------------------------------------------------------------------------- broker users

BROKER_ENV = {"PRM_BROKER_USER", "PRM_BROKER_PASSWORD"}


def process_of(container: dict) -> str | None:
    """The process a container runs: a service's name, "gateway", or None (migrate)."""
    command = argv(container)
    if command == GATEWAY:
        return "gateway"
    return served_service(command)


def broker_secret(container: dict) -> str | None:
    from services.common.broker import credentials_secret

    process = process_of(container)
    return credentials_secret(process) if process else None


def test_k8s_broker_users_are_the_table_rendered():
    """deploy/k8s/broker-users.yaml is what `manage.py broker k8s` renders from the
    service classes: a handler or a call added without regenerating it fails here."""
    from services.common.broker import topology_yaml

    committed = (K8S_DIR / "broker-users.yaml").read_text()
    assert committed == topology_yaml(), (
        "deploy/k8s/broker-users.yaml is stale: python manage.py broker k8s > "
        "deploy/k8s/broker-users.yaml"
    )


def test_broker_table_lets_no_process_configure_a_shared_exchange_or_read_parked_events():
    """Exchanges are the operator's to declare (manage.py migrate) and so to delete: a
    process may configure its own event exchange only. Parked events are the operator's to
    read: no process may read the parked queue or bind with its key."""
    from services.common import broker

    for grant in broker.grants():
        process = grant.user.removeprefix(broker.DEFAULT_PREFIX)
        configure = re.compile(grant.configure)
        for exchange in broker.exchange_names():
            if exchange != f"{process}.events":
                assert not configure.match(exchange), (process, exchange)
        assert not configure.match(broker.PARKED_QUEUE), process
        assert not re.match(grant.write, broker.PARKED_QUEUE), process
        assert not re.match(grant.read, broker.PARKED_QUEUE), process
        for exchange, (_, read) in grant.topics.items():
            assert not re.match(read, broker.PARKED_QUEUE), (process, exchange)


def test_make_run_gives_each_process_the_password_broker_apply_gave_it(monkeypatch, tmp_path):
    """scripts/run.sh writes each Procfile line with ``broker.shell_login``: the variable
    PRM_BROKER_PASSWORD_<NAME> when set (then no file is made), else the file
    ``broker.passwords`` made; never the password itself."""
    from services.common import broker

    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("PRM_BROKER_PASSWORD_ORDERS", "a-password-from-the-environment")
    monkeypatch.delenv("PRM_BROKER_PASSWORD_PARTNERS", raising=False)
    made = broker.passwords(["orders", "partners"])
    orders = broker.shell_login("orders", "prm-")
    assert orders == (
        'PRM_BROKER_USER=prm-orders PRM_BROKER_PASSWORD="${PRM_BROKER_PASSWORD_ORDERS}"'
    )
    assert made["orders"] not in orders
    assert not (tmp_path / "keys" / "broker-orders").exists()
    partners = shlex.split(broker.shell_login("partners", "prm-"))
    assert partners[0] == "PRM_BROKER_USER=prm-partners"
    path = Path(partners[1].removeprefix("PRM_BROKER_PASSWORD_FILE="))
    assert path.read_text().strip() == made["partners"]
    assert "shell_login" in (Path(__file__).parents[2] / "scripts" / "run.sh").read_text()


def test_k8s_every_process_has_a_broker_user_with_its_permissions(rendered):
    from services.common.broker import credentials_secret, user_name

    users = {u["metadata"]["name"]: u for u in of_kind(rendered, "User")}
    processes = [*NAMES, "gateway"]
    assert set(users) == {user_name(p) for p in [*processes, "operator"]}
    for process in [*processes, "operator"]:
        user = users[user_name(process)]
        assert user["apiVersion"] == "rabbitmq.com/v1beta1"
        assert user["spec"]["importCredentialsSecret"]["name"] == credentials_secret(process)
        assert user["spec"]["rabbitmqClusterReference"]["name"] == "prm-rabbitmq"
        assert not user["spec"]["tags"], "no process is a broker administrator"
    permissions = {p["spec"]["userReference"]["name"] for p in of_kind(rendered, "Permission")}
    assert permissions == set(users)
    topics = {
        (t["spec"]["userReference"]["name"], t["spec"]["permissions"]["exchange"])
        for t in of_kind(rendered, "TopicPermission")
    }
    for process in processes:
        assert (user_name(process), "nameko-rpc") in topics, process
    for name in NAMES:
        assert (user_name(name), f"{name}.events") in topics, name


def test_k8s_each_process_logs_in_to_the_broker_as_itself_over_tls(rendered):
    workloads = of_kind(app_workloads(rendered), "Deployment")
    seen = set()
    for deployment in workloads:
        (container,) = pod_spec(deployment)["containers"]
        process = process_of(container)
        assert process, deployment["metadata"]["name"]
        seen.add(process)
        env = {item["name"]: item for item in container["env"]}
        uri = env["AMQP_URI"]
        assert "valueFrom" not in uri, f"{process} must not read the operator's AMQP_URI"
        parts = urlsplit(uri["value"])
        assert parts.scheme == "amqps" and parts.port == 5671, process
        assert parts.username is None and parts.password is None, process
        for key in BROKER_ENV:
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == broker_secret(container), (process, key)
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["tls-ca"]["mountPath"] == "/etc/prm/tls"
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes["tls-ca"]["secret"]["secretName"] == "prm-tls-ca"
    assert seen == {*NAMES, "gateway"}
    migrate = migrate_container(rendered)
    assert not BROKER_ENV & env_names(migrate), "migrate runs as the operator"
    (config,) = of_kind(rendered, "ConfigMap")
    assert config["data"]["PRM_BROKER_USER_PREFIX"] == "prm-"
    assert config["data"]["PRM_BROKER_OPERATOR_USER"] == "prm-operator"
    assert config["data"]["SSL_CERT_FILE"] == "/etc/prm/tls/ca.crt"
    (rabbitmq,) = of_kind(rendered, "RabbitmqCluster")
    assert rabbitmq["spec"]["tls"]["disableNonTLSListeners"] is True
    assert rabbitmq["spec"]["tls"]["secretName"]


def test_k8s_secret_template_connects_over_tls():
    template = yaml.safe_load(SECRET_TEMPLATE.read_text())["stringData"]
    assert urlsplit(template["AMQP_URI"]).scheme == "amqps"
    assert urlsplit(template["AMQP_URI"]).username == "prm-operator"
    for key in DATABASE_URL_KEYS:
        query = urlsplit(template[key]).query
        assert "sslmode=verify-full" in query, key
        assert "sslrootcert=/etc/prm/tls/" in query, key


def test_compose_each_process_logs_in_to_the_broker_as_itself(compose, app_services):
    from services.common.broker import user_name

    for name, service in app_services.items():
        env = environment(service)
        if name == "migrate":
            assert not BROKER_ENV & set(env), "migrate runs as the operator"
            continue
        assert env["PRM_BROKER_USER"] == user_name(name), name
        password = INTERPOLATION.fullmatch(env["PRM_BROKER_PASSWORD"])
        assert password and password.group("name") == f"PRM_BROKER_PASSWORD_{name.upper()}"
        assert password.group("op") == ":?", name
        assert urlsplit(resolve(env["AMQP_URI"])).password is None, name
        assert env["PRM_BROKER_USER_PREFIX"] == "prm-"
    rabbitmq = compose["services"]["rabbitmq"]
    targets = {volume.split(":")[-2] for volume in rabbitmq["volumes"]}
    assert "/etc/rabbitmq/definitions.json" in targets
    conf = (ROOT / "deploy" / "rabbitmq" / "definitions.conf").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in conf


def test_compose_broker_definitions_are_made_from_the_table(monkeypatch, tmp_path):
    """`manage.py broker definitions`, as the top of docker-compose.yml says to run it,
    gives every process a user with the permissions of the table, and the operator."""
    from services.common import broker

    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    document = broker.definitions(
        {name: secrets.token_hex(12) for name in broker.process_names()}, "prm"
    )
    users = {user["name"] for user in document["users"]}
    assert users == {broker.user_name(name) for name in broker.process_names()}
    assert {p["vhost"] for p in document["permissions"]} == {"prm"}
    for user in document["users"]:
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert "password" not in user


# --------------------------------------------------------------------------- web console

#: What the nginx image's envsubst may replace in the template (``NGINX_ENVSUBST_FILTER``).
RESOLVERS = "NGINX_LOCAL_RESOLVERS"
KUBE_ROUTE_PATHS = ("/", "/customers/12", "/assets/index-1a2b.js", "/favicon.svg", "/metrics")


def console_stages() -> list[list[tuple[str, str]]]:
    """deploy/console/Dockerfile's instructions, one list per FROM."""
    stages: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions(CONSOLE_DOCKERFILE):
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def console_env() -> dict[str, str]:
    """The ENV of the console's runtime image (``KEY=value`` pairs, quotes removed)."""
    env = {}
    for name, arguments in console_stages()[-1]:
        if name == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def console_server(gateway_url: str = "http://gateway:8000") -> Directive:
    """The template as the image renders it at start, read as nginx would."""
    env = {
        "PRM_GATEWAY_URL": gateway_url,
        RESOLVERS: "127.0.0.11",
        # names nginx uses as its own variables: never replaced
        "uri": "REPLACED",
        "host": "REPLACED",
    }
    rendered = render_template(
        CONSOLE_TEMPLATE.read_text(), env, console_env()["NGINX_ENVSUBST_FILTER"]
    )
    assert "REPLACED" not in rendered, "envsubst would replace nginx's own $variables"
    assert "${" not in rendered, "a ${VARIABLE} of the template is left unreplaced"
    (server,) = parse_nginx(rendered)
    assert server.name == "server"
    return server


def locations(server: Directive) -> dict[tuple[str, ...], Directive]:
    """("^~", "/api/") or ("/",) -> the location block."""
    return {tuple(d.args): d for d in server.all("location")}


def proxied(server: Directive) -> dict[str, Directive]:
    return {block.args[-1]: block for block in server.all("location") if block.all("proxy_pass")}


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m)?", value)
    assert match, value
    return int(match[1]) * (60 if match[2] == "m" else 1)


def size_in_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kmg])?", value.lower())
    assert match, value
    return int(match[1]) * {None: 1, "k": 2**10, "m": 2**20, "g": 2**30}[match[2]]


def gateway_timeout() -> int:
    """gunicorn's timeout for the gateway (gateway/gunicorn.conf.py, its default)."""
    import runpy

    return int(runpy.run_path(str(ROOT / "gateway" / "gunicorn.conf.py"))["timeout"])


def test_console_dockerfile_builds_with_node_and_serves_with_unprivileged_nginx():
    build, runtime = console_stages()
    base, _, stage = build[0][1].partition(" AS ")
    assert base.startswith("node:20"), base
    runs = " ".join(arguments for name, arguments in build if name == "RUN")
    assert "npm ci" in runs and "npm run build" in runs
    copies = [arguments for name, arguments in build if name == "COPY"]
    # the lock file alone first: the dependencies' layer outlives a change to the pages
    assert copies[0].split()[:2] == ["console/package.json", "console/package-lock.json"]

    image = runtime[0][1]
    assert re.fullmatch(r"nginxinc/nginx-unprivileged:\d+\.\d+\.\d+-alpine(-slim)?", image), (
        f"{image}: an unprivileged nginx on a pinned version"
    )
    copies = [arguments for name, arguments in runtime if name == "COPY"]
    assert any(
        c.startswith(f"--from={stage.strip()} /console/dist") and "/usr/share/nginx/html" in c
        for c in copies
    )
    template = next(c.split() for c in copies if "default.conf.template" in c)
    assert (ROOT / template[-2]).resolve() == CONSOLE_TEMPLATE
    assert template[-1].startswith("/etc/nginx/templates/") and template[-1].endswith(".template")
    for copy in copies:
        if copy.startswith("deploy/") or copy.startswith("--chmod"):
            source = next(part for part in copy.split() if not part.startswith("--"))
            assert (ROOT / source).exists(), source
    # (busybox's wget is the base image's: compose's health check uses it, nothing downloads)
    assert not re.search(r"\b(curl|wget)\b", runs)


def test_console_dockerfile_runs_as_nginx_numeric_user_and_listens_on_8080():
    runtime = console_stages()[-1]
    users = [i for i, (name, _) in enumerate(runtime) if name == "USER"]
    assert users, "the image would run as whatever the base image says"
    last = users[-1]
    user = runtime[last][1].split(":")[0]
    assert user.isdigit() and int(user) == CONSOLE_UID, user
    assert not any(name == "RUN" for name, _ in runtime[last:]), "RUN after USER"
    assert ("EXPOSE", str(CONSOLE_PORT)) in runtime
    assert console_server().one("listen").args == [str(CONSOLE_PORT)]


def test_console_build_context_is_the_console_alone():
    # BuildKit reads <Dockerfile>.dockerignore instead of the root one
    patterns = ignore_patterns(CONSOLE_DOCKERFILE.with_name("Dockerfile.dockerignore"))
    assert patterns[0] == "*", "everything is left out but what is named"
    assert {"!console", "!deploy/console"} == {p for p in patterns if p.startswith("!")}
    assert {"**/node_modules", "console/dist"} <= set(patterns)


def test_console_template_serves_the_page_with_the_gateways_policy_and_cache_rules():
    from gateway.console import POLICY

    server = console_server()
    assert server.one("root").args == ["/usr/share/nginx/html"]
    assert server.one("gzip").args == ["on"]
    found = locations(server)
    # every path the console's router knows gets the page; the page is never cached unasked
    assert found[("/",)].one("try_files").args == ["$uri", "/index.html"]
    assert found[("=", "/index.html")].headers()["cache-control"] == "no-cache"
    assets = found[("^~", "/assets/")]
    assert assets.one("try_files").args == ["$uri", "=404"], "a missing asset is no page"
    assert assets.headers()["cache-control"] == "public, max-age=31536000, immutable"
    # every answer made of the console's files carries the gateway's policy
    serving = [b for b in server.all("location") if b.all("try_files") or b.args[0] == "="]
    serving = [b for b in serving if b.args != ["=", "/console-healthz"]]
    assert len(serving) >= 4
    for block in serving:
        assert block.headers().get("content-security-policy") == POLICY, block.args
    # no add_header at the server level: a location with its own would silently drop it
    assert not server.all("add_header")


def test_console_template_proxies_exactly_the_apis_paths_to_the_gateway():
    from gateway.console import NOT_PAGES

    server = console_server()
    routes = proxied(server)
    expected = {f"/{path}" for path in NOT_PAGES if path != "metrics"}
    assert set(routes) == expected
    for path, block in routes.items():
        # a prefix no regular expression (the other files' location) takes over
        assert block.args == ["^~", path], block.args
        assert block.one("proxy_pass").args == ["$gateway"], path
    # the metrics stay on the gateway's own port: here, as there, a 404
    metrics = locations(server)[("^~", "/metrics")]
    assert metrics.one("return").args == ["404"]
    # the gateway's address as given (looked up again while nginx runs)
    assert server.one("set").args == ["$gateway", "http://gateway:8000"]
    assert server.one("resolver").args[0] == "127.0.0.11"


def test_console_template_passes_the_client_and_waits_longer_than_the_gateway():
    from gateway.api.filing import IMPORT_MAX_BYTES

    server = console_server()
    headers = {d.args[0].lower(): d.args[1] for d in server.all("proxy_set_header")}
    # appended: the gateway (PRM_TRUSTED_PROXIES=1) reads the client's address as the last
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["host"] in {"$host", "$http_host"}
    for block in proxied(server).values():
        assert not block.all("proxy_set_header"), "a location's own would drop the server's"
    timeout = gateway_timeout()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        assert seconds(server.one(directive).args[0]) > timeout, directive
    # a lead import fits; the gateway answers anything bigger with its own 413
    assert size_in_bytes(server.one("client_max_body_size").args[0]) >= IMPORT_MAX_BYTES


def test_console_template_answers_probes_and_its_own_errors_as_problems():
    server = console_server()
    found = locations(server)
    probe = found[("=", "/console-healthz")]
    assert probe.one("return").args[0] == "200"
    for directive in server.all("error_page"):
        target = directive.args[-1]
        assert target.startswith("@"), directive.args
        (status, body) = found[(target,)].one("return").args
        problem = json.loads(body.replace("\\n", ""))
        assert str(problem["status"]) == status
        assert problem["code"] and problem["detail"]
        assert found[(target,)].one("default_type").args == ["application/problem+json"]
    statuses = {code for d in server.all("error_page") for code in d.args if code.isdigit()}
    assert {"413", "502", "504"} <= statuses


def test_console_template_substitutes_only_its_own_variables():
    filter_ = console_env()["NGINX_ENVSUBST_FILTER"]
    names = set(re.findall(r"\$\{(\w+)\}", CONSOLE_TEMPLATE.read_text()))
    assert names == {"PRM_GATEWAY_URL", RESOLVERS}
    assert all(re.search(filter_, name) for name in names)
    # nginx's own variables, which an unfiltered envsubst would blank if the environment
    # happened to hold them
    for name in ("uri", "host", "http_host", "scheme", "gateway", "HOSTNAME", "PATH"):
        assert not re.search(filter_, name), name
    # the resolvers come from the image's 15-local-resolvers.envsh
    assert console_env()["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://gateway:8000", True),
        ("http://gateway.prm.svc.cluster.local", True),
        ("", False),
        ("gateway:8000", False),
        # a path would send every request to that one path
        ("http://gateway:8000/", False),
        ("http://gateway:8000/api", False),
    ],
)
def test_console_refuses_to_start_without_a_usable_gateway_address(url, accepted):
    script = CONSOLE_DIR / "18-prm-settings.sh"
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    env = {"PATH": "/usr/bin:/bin", "PRM_GATEWAY_URL": url, RESOLVERS: "127.0.0.11"}
    result = subprocess.run([sh, str(script)], env=env, capture_output=True, text=True)
    assert (result.returncode == 0) == accepted, result.stderr
    if not accepted:
        assert "PRM_GATEWAY_URL" in result.stderr
    # it runs after the resolvers are known and before the template is rendered
    assert "15-local-resolvers" < script.name.rsplit(".", 1)[0] < "20-envsubst-on-templates"


def test_compose_builds_the_console_and_puts_it_in_front_of_the_gateway(compose):
    console = compose["services"][CONSOLE]
    build = console["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == CONSOLE_DOCKERFILE
    assert (ROOT / build["context"]).resolve() == ROOT, "the Dockerfile copies from the root"
    assert depends_on(console) == {"gateway": "service_healthy"}
    assert console.get("restart") in {"unless-stopped", "always"}
    assert (None, str(CONSOLE_PORT), str(CONSOLE_PORT)) in published_ports(console)
    check = console["healthcheck"]["test"]
    assert check[0] == "CMD" and check[-1].endswith("/console-healthz")
    assert f":{CONSOLE_PORT}/" in check[-1]
    # read-only, as on Kubernetes: only nginx's own paths are writable
    assert console.get("read_only") is True
    assert set(CONSOLE_WRITABLE) <= set(console.get("tmpfs", []))
    # no secret of the application reaches it
    assert set(environment(console)) == {"PRM_GATEWAY_URL"}


@pytest.fixture(scope="module")
def console_deployment(rendered) -> dict:
    return named(rendered, "Deployment", CONSOLE)


def test_k8s_console_runs_its_image_read_only_and_probed_over_http(rendered, console_deployment):
    spec = pod_spec(console_deployment)
    assert spec.get("automountServiceAccountToken") is False
    (container,) = spec["containers"]
    assert image_name(container["image"]) == CONSOLE_IMAGE
    assert not container.get("envFrom"), "no setting or secret of the application"
    assert env_names(container) == {"PRM_GATEWAY_URL"}
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/console-healthz", probe
        assert ports.get(check["port"], check["port"]) == CONSOLE_PORT, probe
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]], mount
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert {"console.yaml", "ingress.yaml"} <= set(kustomization["resources"])
    tags = {i["name"]: i.get("newTag") for i in kustomization["images"]}
    assert tags.get(CONSOLE_IMAGE), "the console's image tag is set in kustomization.yaml"

    service = named(rendered, "Service", CONSOLE)
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert ports.get(port["targetPort"], port["targetPort"]) == CONSOLE_PORT
    pod_labels = console_deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_k8s_console_reaches_the_gateways_service_by_its_full_name(rendered, console_deployment):
    (container,) = pod_spec(console_deployment)["containers"]
    url = urlsplit(next(e["value"] for e in container["env"] if e["name"] == "PRM_GATEWAY_URL"))
    # nginx's resolver does not use the pod's search domains
    assert url.hostname == f"gateway.{NAMESPACE}.svc.cluster.local"
    assert url.path == ""
    (port,) = named(rendered, "Service", "gateway")["spec"]["ports"]
    assert (url.port or 80) == port["port"]


def ingress_route(ingress: dict, path: str) -> tuple[str, str | int]:
    """The backend (Service, port) the Ingress gives a request path: an Exact path that
    equals it, else the longest Prefix whose elements start it (Kubernetes' rules)."""
    best: tuple[int, dict] | None = None
    for rule in ingress["spec"]["rules"]:
        assert not rule.get("host"), "add hosts in an overlay; this Ingress answers any"
        for entry in rule["http"]["paths"]:
            wanted, kind = entry["path"], entry["pathType"]
            if kind == "Exact":
                matched = path == wanted
                length = 10**6 if matched else -1
            else:
                assert kind == "Prefix", kind
                elements = [e for e in wanted.split("/") if e]
                matched = [e for e in path.split("/") if e][: len(elements)] == elements
                length = len(elements)
            if matched and (best is None or length > best[0]):
                best = (length, entry)
    assert best, f"nothing routes {path}"
    service = best[1]["backend"]["service"]
    return service["name"], service["port"].get("name") or service["port"]["number"]


def test_k8s_ingress_sends_the_apis_paths_to_the_gateway_and_the_rest_to_the_console(rendered):
    from gateway.api.filing import IMPORT_MAX_BYTES
    from gateway.console import NOT_PAGES

    (ingress,) = of_kind(rendered, "Ingress")
    services = {s["metadata"]["name"]: s for s in of_kind(rendered, "Service")}
    api = [f"/{p.rstrip('/')}" for p in NOT_PAGES if p != "metrics"]
    for path in [*api, "/api/v1/customers/12", "/docs/", "/docs/assets/swagger-ui.css"]:
        assert ingress_route(ingress, path)[0] == "gateway", path
    for path in KUBE_ROUTE_PATHS:
        assert ingress_route(ingress, path)[0] == CONSOLE, path
    # the backends are the Services' own ports
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            backend = entry["backend"]["service"]
            ports = services[backend["name"]]["spec"]["ports"]
            assert backend["port"] in [{"name": p["name"]} for p in ports] + [
                {"number": p["port"]} for p in ports
            ], entry
    # ingress-nginx's own limit (1 MiB) would refuse a lead import
    annotations = ingress["metadata"].get("annotations", {})
    body = annotations.get("nginx.ingress.kubernetes.io/proxy-body-size")
    assert body and size_in_bytes(body) >= IMPORT_MAX_BYTES
    read = annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout")
    assert read and int(read) > gateway_timeout()


def test_k8s_gateway_trusts_exactly_the_one_proxy_api_requests_pass(rendered):
    """The Ingress sends the API's paths to the gateway itself, not through the console's
    nginx: one proxy appends to X-Forwarded-For, which is what the gateway trusts."""
    (ingress,) = of_kind(rendered, "Ingress")
    (config,) = of_kind(rendered, "ConfigMap")
    assert config["data"]["PRM_TRUSTED_PROXIES"] == "1"
    assert ingress_route(ingress, "/api/v1/auth/login")[0] == "gateway"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)


def test_console_template_is_accepted_by_nginx(tmp_path):
    """``nginx -t`` on the rendered template inside a short copy of the image's nginx.conf
    (it reads files, opens no socket); skipped where nginx is not installed."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: the console's configuration is read, not checked")
    server = render_template(
        CONSOLE_TEMPLATE.read_text(),
        {"PRM_GATEWAY_URL": "http://gateway:8000", RESOLVERS: "127.0.0.11"},
        console_env()["NGINX_ENVSUBST_FILTER"],
    )
    server = server.replace("root /usr/share/nginx/html;", f"root {tmp_path};")
    temp = "\n".join(
        f"    {name}_temp_path {tmp_path / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    default_type application/octet-stream;\n{temp}\n{server}\n}}\n"
    )
    log = tmp_path / "error.log"
    result = subprocess.run(
        [binary, "-t", "-q", "-p", str(tmp_path), "-e", str(log), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
