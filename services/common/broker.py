"""Who may do what on the broker: one RabbitMQ user per service and one for the gateway.

The table is derived from the service classes (``services/common/registry.py``), never
written by hand: the services a service calls are its ``ServiceRpc`` dependencies, the
events it consumes are its ``event_handler`` entry points. Each user may:

- configure, bind and consume its own queues: its RPC queue ``rpc-<service>``, the reply
  queues of its calls ``rpc.reply-<service>-<uuid>`` (the gateway's:
  ``rpc.reply-gateway-<uuid>``), the queues of its event handlers
  ``evt-<source>-<event>--<service>.<method>``; the gateway's workers each an exclusive
  queue ``gateway.listen-<uuid>`` for the events that change a resolved caller
  (``Role.listens``, gateway/callers.py);
- publish on its own event exchange ``<service>.events`` and on nobody else's;
- on the RPC exchange ``nameko-rpc``: publish calls to the services it calls (routing key
  ``<service>.<method>``) and replies to its callers; bind only its own RPC queue
  (``<service>.*``) and its reply queues;
- bind its handler queues to the event exchanges of the events it consumes, with those
  event kinds only;
- hand a failing event back to its own queue, or park it in ``prm.parked``, through the
  topic exchange ``prm.retry`` (routing key: the queue's name), never through the default
  exchange, which would let it put a message into any queue of the virtual host; it may
  publish to ``prm.parked`` but never bind with that key, nor read the parked queue:
  parked events are the operator's alone (``manage.py parked``);
- declare (configure) no exchange but its own ``<service>.events``: ``manage.py migrate``,
  as the operator, declares ``nameko-rpc``, every ``<service>.events`` and ``prm.retry``
  (``exchange_names``, ``declare_shared``) before any process starts, and the processes
  refer to them without declaring them (``referred``), so that none may delete them.

How RabbitMQ (3.10) applies the two kinds of permission (access control guide, "topic
authorisation"):

- configure / write / read are regular expressions over the names of queues and
  exchanges: ``queue.declare`` and ``exchange.declare`` (not passive) and their deletion
  need configure (a passive declare needs no right at all); ``queue.bind`` needs write on
  the queue and read on the exchange; ``basic.publish`` needs write on the exchange;
  ``basic.consume``, ``basic.get`` and ``queue.purge`` need read on the queue.
- topic permissions apply to topic exchanges only, per exchange: ``basic.publish`` is
  checked against the write expression with the routing key, ``queue.bind`` (and unbind)
  against the read expression with the binding key. An exchange for which a user has no
  topic permission at all is not restricted by routing key, so every user here gets a
  topic permission on each topic exchange its regular permissions reach.
- a refusal is an ``ACCESS_REFUSED`` (403) that closes the channel (the connection, when
  the virtual host itself is refused).
- the ``user_id`` property of a published message must be the connection's user name
  (unless the user has the ``impersonator`` tag, which none of these has): that is what
  lets a consumer trust it (``expected_sender``).

Where a permission is wider than the ideal, the expression below says why.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from kombu import Exchange, Queue
from nameko.events import EventHandler as NamekoEventHandler
from nameko.rpc import RpcProxy

from services.common.config import broker_uris
from services.common.queues import PARKED_ARGUMENTS, PARKED_QUEUE, RETRY_EXCHANGE, RPC_ARGUMENTS
from services.common.registry import SERVICES

RPC_EXCHANGE = "nameko-rpc"
#: The gateway workers' own event queues: ``gateway.listen-<uuid>`` (gateway/callers.py).
LISTEN_QUEUE_PREFIX = "gateway.listen-"
GATEWAY = "gateway"
#: The login of the operator's commands (manage.py migrate, parked) on a deployment: every
#: right on the virtual host, no administrator tag (it manages no users).
OPERATOR = "operator"
#: The user names of the processes are ``<prefix><name>``.
DEFAULT_PREFIX = "prm-"
#: ``str(uuid.uuid4())``: the reply queues' and Nameko's reply routing keys.
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: An event kind or a method name (no dot, no wildcard).
WORD = r"[a-z][a-z0-9_]*"
NOTHING = "^$"


def events_exchange(service: str) -> str:
    return f"{service}.events"


def handler_queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """Nameko's name for a service-pool handler queue."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def user_name(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The broker user of service (or gateway) ``name``."""
    return f"{prefix}{name}"


def expected_sender(source: str, prefix: str | None, own_user: str) -> str:
    """The user that publishes ``source``'s events: its own user when every process has
    one (``prefix`` given), else the one login all processes share (``own_user``)."""
    return user_name(source, prefix) if prefix else own_user


def exchange_names() -> list[str]:
    """Every exchange of the virtual host, which ``manage.py migrate`` declares (as the
    operator) before any process starts: the processes only refer to them."""
    return [RPC_EXCHANGE, *(events_exchange(name) for name in SERVICES), RETRY_EXCHANGE]


def declare_exchanges(channel: Any) -> None:
    """Declare every exchange (``exchange_names``) on ``channel``, whose login may
    configure them: what ``manage.py migrate`` declares before any process starts."""
    for name in exchange_names():
        Exchange(name, type="topic", durable=True)(channel).declare()


def declare_shared(channel: Any) -> None:
    """Every exchange and the parked queue, bound to ``prm.retry`` by its name, on a new
    virtual host (``manage.py migrate`` declares the queues through
    ``queues.QueueMover``, which moves those of an older shape)."""
    declare_exchanges(channel)
    parked_queue()(channel).declare()


def parked_queue() -> Queue:
    """``prm.parked`` (a quorum queue, services/common/queues.py), bound to ``prm.retry``
    by its own name."""
    retry = Exchange(RETRY_EXCHANGE, type="topic", durable=True)
    return Queue(
        PARKED_QUEUE,
        exchange=retry,
        routing_key=PARKED_QUEUE,
        durable=True,
        queue_arguments=PARKED_ARGUMENTS,
    )


def rpc_queue(service: str) -> Queue:
    """Service ``service``'s RPC queue as its consumer declares it (a quorum queue), bound
    to ``nameko-rpc`` with ``<service>.*``."""
    return Queue(
        f"rpc-{service}",
        exchange=Exchange(RPC_EXCHANGE, type="topic", durable=True),
        routing_key=f"{service}.*",
        durable=True,
        queue_arguments=RPC_ARGUMENTS,
    )


def referred(exchange: Exchange) -> Exchange:
    """``exchange`` as a process binds to it or publishes on it without declaring it: the
    operator declared it (``declare_shared``), and a process holds no configure right
    on it (which would let it delete it). Missing, a bind to it fails with NOT_FOUND
    (404): run ``manage.py migrate`` first."""
    return Exchange(
        exchange.name,
        type=exchange.type,
        durable=exchange.durable,
        auto_delete=exchange.auto_delete,
        delivery_mode=exchange.delivery_mode,
        arguments=exchange.arguments,
        no_declare=True,
    )


@dataclass(frozen=True)
class Consumed:
    source: str
    event_type: str
    queue: str


@dataclass(frozen=True)
class Role:
    """What one process does on the broker, read from its service class."""

    name: str
    calls: tuple[str, ...] = ()
    consumes: tuple[Consumed, ...] = ()
    serves: bool = True
    #: (source, event kind) it follows on exclusive queues of its own, apart from Nameko's
    #: handlers: no retry, no parking (the gateway's caller cache).
    listens: tuple[tuple[str, str], ...] = ()


def _service_class(name: str) -> type:
    module, _, cls = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def role_of(service_cls: type) -> Role:
    """The services ``service_cls`` calls and the events it consumes."""
    calls: set[str] = set()
    consumes: list[Consumed] = []
    for attribute in sorted(dir(service_cls)):
        value = getattr(service_cls, attribute)
        if isinstance(value, RpcProxy):
            calls.add(value.target_service)
        for entrypoint in getattr(value, "nameko_entrypoints", ()):
            if isinstance(entrypoint, NamekoEventHandler):
                queue = handler_queue_name(
                    entrypoint.source_service, entrypoint.event_type, service_cls.name, attribute
                )
                consumes.append(Consumed(entrypoint.source_service, entrypoint.event_type, queue))
    return Role(service_cls.name, tuple(sorted(calls)), tuple(consumes))


def _gateway_listens(classes: dict[str, type]) -> tuple[tuple[str, str], ...]:
    """partners' events after which the gateway forgets a resolved caller (when partners
    is one of the services)."""
    if "partners" not in classes:
        return ()
    kinds = importlib.import_module("services.partners.events").CALLER_CHANGES
    return tuple(("partners", kind) for kind in kinds)


def roles(services: dict[str, type] | None = None) -> dict[str, Role]:
    """Every service's role and the gateway's (a client of every service)."""
    classes = services or {name: _service_class(name) for name in SERVICES}
    found = {name: role_of(cls) for name, cls in classes.items()}
    found[GATEWAY] = Role(
        GATEWAY, calls=tuple(classes), serves=False, listens=_gateway_listens(classes)
    )
    return found


@dataclass(frozen=True)
class Grant:
    """One user's permissions on one virtual host."""

    user: str
    configure: str
    write: str
    read: str
    #: exchange -> (write, read): routing keys it may publish, binding keys it may bind.
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)


def _any_of(*patterns: str) -> str:
    """``^(a|b|c)$`` of regular expressions; nothing at all for none."""
    kept = sorted(set(patterns))
    return f"^({'|'.join(kept)})$" if kept else NOTHING


def _names(*names: str) -> list[str]:
    return [re.escape(name) for name in names]


def grant_of(role: Role, everyone: dict[str, Role], prefix: str = DEFAULT_PREFIX) -> Grant:
    name = role.name
    reply_queue = rf"rpc\.reply-{re.escape(name)}-{UUID}"
    handler_queues = _names(*(c.queue for c in role.consumes))
    sources = sorted({c.source for c in role.consumes})
    own_queues = [reply_queue, *handler_queues]
    if role.serves:
        own_queues.append(re.escape(f"rpc-{name}"))
    listened = sorted({source for source, _ in role.listens})
    if role.listens:
        own_queues.append(rf"{re.escape(LISTEN_QUEUE_PREFIX)}{UUID}")
    exchanges_bound = [
        RPC_EXCHANGE,
        *(events_exchange(s) for s in sorted({*sources, *listened})),
    ]
    if role.consumes:
        exchanges_bound.append(RETRY_EXCHANGE)
    # Configure on its own queues and its own event exchange only: the exchanges it binds
    # to or publishes on are declared by ``manage.py migrate`` (the operator) and only
    # referred to here (``referred``; entrypoints.py, rpc.py, gateway/rpc.py), so no
    # process may delete one (exchange.delete needs configure).
    configure = list(own_queues)
    write = [*own_queues, re.escape(RPC_EXCHANGE)]
    read = [*own_queues, *_names(*exchanges_bound)]
    if role.serves:
        configure.append(re.escape(events_exchange(name)))
        write.append(re.escape(events_exchange(name)))
    if role.consumes:
        # Publish on prm.retry (back to its own queues, or to prm.parked); nothing on the
        # parked queue itself: manage.py migrate declares and binds it, manage.py parked
        # reads it, and a service never does either.
        write.append(re.escape(RETRY_EXCHANGE))

    callers = sorted(
        {GATEWAY, name} | {other.name for other in everyone.values() if name in other.calls}
    )
    # Calls: "<service>.<method>" for the services it calls (and itself: ``manage.py ping``
    # in its own container). Replies: Nameko's clients bind their reply queue with a bare
    # uuid, so a server may publish a reply to any Nameko client's reply key; and a
    # server that sees a caller's reply key in a request could bind its own reply queue to
    # it. Both need the uuid, which only the services called learn: wider than ideal,
    # since Nameko 2.14 names no service in its reply keys. Replies to the gateway and to
    # our own RPC client (``rpc.reply-<client>-<uuid>``) are limited to the callers.
    called = [*role.calls, name] if role.serves else list(role.calls)
    rpc_write = [rf"{re.escape(target)}\.{WORD}" for target in called]
    rpc_read = [reply_queue]
    if role.serves:
        rpc_write.append(UUID)
        rpc_write.extend(rf"rpc\.reply-{re.escape(caller)}-{UUID}" for caller in callers)
        rpc_read.append(rf"{re.escape(name)}\.\*")
    if name != GATEWAY:
        rpc_read.append(UUID)  # the binding key of Nameko's reply queue
    topics: dict[str, tuple[str, str]] = {RPC_EXCHANGE: (_any_of(*rpc_write), _any_of(*rpc_read))}
    if role.serves:
        # Any event kind of its own: the kinds are the producer's to add.
        topics[events_exchange(name)] = (f"^{WORD}$", NOTHING)
    for source in sources:
        kinds = sorted({c.event_type for c in role.consumes if c.source == source})
        read_kinds = _any_of(*_names(*kinds))
        if source == name:
            topics[events_exchange(name)] = (f"^{WORD}$", read_kinds)
        else:
            topics[events_exchange(source)] = (NOTHING, read_kinds)
    for source in listened:
        # Bind its listening queues with those kinds only; publish nothing there.
        kinds = sorted({kind for src, kind in role.listens if src == source})
        topics[events_exchange(source)] = (NOTHING, _any_of(*_names(*kinds)))
    if role.consumes:
        # Publish: its own queues' names and prm.parked; bind: its own queues' names only
        # (bound with ``prm.parked``, a queue of its own would get every parked event).
        topics[RETRY_EXCHANGE] = (
            _any_of(*handler_queues, re.escape(PARKED_QUEUE)),
            _any_of(*handler_queues),
        )
    return Grant(
        user=user_name(name, prefix),
        configure=_any_of(*configure),
        write=_any_of(*write),
        read=_any_of(*read),
        topics=topics,
    )


def grants(prefix: str = DEFAULT_PREFIX, everyone: dict[str, Role] | None = None) -> list[Grant]:
    """Every process's permissions, services first (registry order), then the gateway."""
    everyone = everyone or roles()
    return [grant_of(role, everyone, prefix) for role in everyone.values()]


# -- RabbitMQ definitions ------------------------------------------------------------------


def password_hash(password: str, salt: bytes | None = None) -> str:
    """``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password)), with a
    random 32-bit salt."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def definitions(
    passwords: dict[str, str],
    vhost: str = "/",
    prefix: str = DEFAULT_PREFIX,
    everyone: dict[str, Role] | None = None,
    extra_users: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """RabbitMQ definitions (``rabbitmqctl import_definitions``, ``POST /api/definitions``,
    ``load_definitions``): the users with ``passwords`` (process name -> password), their
    permissions and topic permissions on ``vhost``. Users of ``extra_users`` (an operator,
    as definitions entries) are added as they are."""
    users, permissions, topic_permissions = [], [], []
    for grant in grants(prefix, everyone):
        process = grant.user.removeprefix(prefix)
        users.append(
            {
                "name": grant.user,
                "password_hash": password_hash(passwords[process]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
                "limits": {},
            }
        )
        permissions.append(
            {
                "user": grant.user,
                "vhost": vhost,
                "configure": grant.configure,
                "write": grant.write,
                "read": grant.read,
            }
        )
        for exchange, (write, read) in grant.topics.items():
            topic_permissions.append(
                {"user": grant.user, "vhost": vhost, "exchange": exchange,
                 "write": write, "read": read}
            )  # fmt: skip
    return {
        "users": [*(extra_users or []), *users],
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
    }


# -- Kubernetes: RabbitMQ Messaging Topology Operator ---------------------------------------


def topology_resources(
    cluster: str = "prm-rabbitmq", vhost: str = "/", prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """``User``, ``Permission`` and ``TopicPermission`` (rabbitmq.com/v1beta1) of every
    process. Each user's name and password come from the process's own Secret
    (``credentials_secret``: keys ``username`` and ``password``, made out of band), which
    the operator imports and that process's Deployment alone reads: a user name the
    operator made up would not be the sender the consumers expect."""
    api = "rabbitmq.com/v1beta1"
    resources: list[dict[str, Any]] = []
    operator = Grant(user_name(OPERATOR, prefix), ".*", ".*", ".*")
    for grant in [*grants(prefix), operator]:
        ref = {"name": cluster}
        resources.append(
            {
                "apiVersion": api,
                "kind": "User",
                "metadata": {"name": grant.user},
                "spec": {
                    "rabbitmqClusterReference": ref,
                    "tags": [],
                    "importCredentialsSecret": {
                        "name": credentials_secret(grant.user.removeprefix(prefix))
                    },
                },
            }
        )
        resources.append(
            {
                "apiVersion": api,
                "kind": "Permission",
                "metadata": {"name": grant.user},
                "spec": {
                    "vhost": vhost,
                    "userReference": {"name": grant.user},
                    "permissions": {
                        "configure": grant.configure,
                        "write": grant.write,
                        "read": grant.read,
                    },
                    "rabbitmqClusterReference": ref,
                },
            }
        )
        for exchange, (write, read) in grant.topics.items():
            resources.append(
                {
                    "apiVersion": api,
                    "kind": "TopicPermission",
                    "metadata": {"name": f"{grant.user}.{exchange}"},
                    "spec": {
                        "vhost": vhost,
                        "userReference": {"name": grant.user},
                        "permissions": {"exchange": exchange, "write": write, "read": read},
                        "rabbitmqClusterReference": ref,
                    },
                }
            )
    return resources


def credentials_secret(process: str) -> str:
    """The Secret holding the broker user name and password of ``process`` (a service or
    the gateway)."""
    return f"prm-broker-{process}"


def topology_yaml(cluster: str = "prm-rabbitmq", vhost: str = "/") -> str:
    """``deploy/k8s/broker-users.yaml`` as ``manage.py broker k8s`` renders it."""
    import yaml

    header = (
        "# Generated by `python manage.py broker k8s > deploy/k8s/broker-users.yaml` from the\n"
        "# table in services/common/broker.py; do not edit by hand (a test compares them).\n"
        "# RabbitMQ Messaging Topology Operator: one user per process, its permissions and\n"
        "# topic permissions. Each user's name and password are imported from the Secret\n"
        "# prm-broker-<process> (keys username, password), made out of band\n"
        "# (secret.example.yaml); the same Secret gives that process its login.\n"
    )
    documents = yaml.safe_dump_all(
        topology_resources(cluster, vhost), sort_keys=False, width=1000, explicit_start=True
    )
    return header + documents


# -- applying the table to a broker ---------------------------------------------------------


class BrokerApplyError(RuntimeError):
    """The users could not be created on the broker; the message says why."""


def uri_vhost(uri: str) -> str:
    """The virtual host an AMQP URI names ("/" when it names none)."""
    path = urlsplit(broker_uris(uri)[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def password_variable(name: str) -> str:
    """The variable that may give process ``name``'s broker password."""
    return f"PRM_BROKER_PASSWORD_{name.upper()}"


def passwords(names: list[str]) -> dict[str, str]:
    """Each process's broker password: ``PRM_BROKER_PASSWORD_<NAME>`` when set, else a random
    one made once into ``var/keys/broker-<name>`` (readable by its owner only)."""
    from services.common.config import local_secret

    found = {}
    for name in names:
        given = os.environ.get(password_variable(name))
        found[name] = given or local_secret(f"broker-{name}")
    return found


def shell_login(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The variables that give process ``name`` its own login, to put before its command
    in a shell (``make run``'s Procfile), with the password ``passwords`` took: from
    ``PRM_BROKER_PASSWORD_<NAME>`` when set (named, so that the shell reads it when the
    process starts: the password is never written out), else from its file."""
    import shlex

    from services.common.config import var_dir

    variable = password_variable(name)
    if os.environ.get(variable):
        password = f'PRM_BROKER_PASSWORD="${{{variable}}}"'
    else:
        path = var_dir() / "keys" / f"broker-{name}"
        password = f"PRM_BROKER_PASSWORD_FILE={shlex.quote(str(path))}"
    return f"PRM_BROKER_USER={shlex.quote(user_name(name, prefix))} {password}"


def process_names() -> list[str]:
    return [*SERVICES, GATEWAY]


def management_url(amqp_uri: str) -> str:
    """``PRM_BROKER_MANAGEMENT_URL``, else the management API on the broker's host, 15672."""
    given = os.environ.get("PRM_BROKER_MANAGEMENT_URL")
    if given:
        return given.rstrip("/")
    return f"http://{urlsplit(broker_uris(amqp_uri)[0]).hostname or 'localhost'}:15672"


def _login(amqp_uri: str) -> tuple[str, str]:
    parts = urlsplit(broker_uris(amqp_uri)[0])
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


def apply(document: dict[str, Any], amqp_uri: str, timeout: float = 30.0) -> str:
    """Import ``document`` (definitions) into the broker as the login of ``amqp_uri``:
    through the management HTTP API when it answers, else ``rabbitmqctl
    import_definitions``. Returns how; raises ``BrokerApplyError``."""
    import requests

    auth = _login(amqp_uri)
    url = management_url(amqp_uri)
    try:
        answer = requests.post(f"{url}/api/definitions", json=document, auth=auth, timeout=timeout)
    except requests.RequestException as exc:
        reason = f"no management API at {url} ({type(exc).__name__})"
    else:
        if answer.status_code in (200, 201, 204):
            return f"management API at {url}"
        if answer.status_code in (401, 403):
            raise BrokerApplyError(
                f"the management API at {url} refused {auth[0]} ({answer.status_code}):"
                " the login of AMQP_URI must be a broker administrator"
            )
        reason = f"the management API at {url} answered {answer.status_code}"
    return _apply_with_rabbitmqctl(document, reason, timeout)


def _apply_with_rabbitmqctl(document: dict[str, Any], reason: str, timeout: float) -> str:
    import json
    import shutil
    import subprocess

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise BrokerApplyError(f"{reason}, and rabbitmqctl is not on PATH")
    # On standard input: no file of password hashes on disk, and none that the wrapper
    # (which runs as the rabbitmq user) could not read.
    done = subprocess.run(  # noqa: S603 (rabbitmqctl from PATH, fixed arguments)
        [ctl, "-q", "import_definitions", "--format", "json"],
        input=json.dumps(document), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BrokerApplyError(
            f"{reason}; rabbitmqctl import_definitions failed:"
            f" {(done.stderr or done.stdout).strip()}"
        )
    return f"rabbitmqctl ({reason})"


def remove_users(users: list[str], amqp_uri: str, timeout: float = 30.0) -> None:
    """Delete ``users`` from the broker (management API, else rabbitmqctl); a user already
    gone is not an error."""
    import shutil
    import subprocess

    import requests

    auth = _login(amqp_uri)
    url = management_url(amqp_uri)
    for user in users:
        try:
            answer = requests.delete(
                f"{url}/api/users/{quote(user, safe='')}", auth=auth, timeout=timeout
            )
            if answer.status_code in (204, 404):
                continue
        except requests.RequestException:
            pass
        ctl = shutil.which("rabbitmqctl")
        if ctl is not None:
            subprocess.run(  # noqa: S603 (rabbitmqctl from PATH, fixed arguments)
                [ctl, "-q", "delete_user", user],
                capture_output=True, timeout=timeout, check=False,
            )  # fmt: skip


def consumer_of(queue: str) -> str:
    """The service whose handler queue ``queue`` is (``evt-<source>-<event>--<service>.<method>``);
    "" for another name."""
    if not queue.startswith("evt-") or "--" not in queue:
        return ""
    return queue.rpartition("--")[2].partition(".")[0]


def parked_by_its_consumer(queue: str, parked_by: str | None, prefix: str | None) -> bool:
    """Whether a parked message was put into ``prm.parked`` by the consumer of ``queue``
    itself: ``parked_by`` is the message's AMQP ``user_id``, which the broker checked when
    it was published (never a header), and must be that consumer's user,
    ``<prefix><service>`` (``DEFAULT_PREFIX`` when ``prefix`` is unset). Only then may the
    sender it recorded be believed on replay. With one shared login no process has a user
    of its own and nothing is vouched for: a replay run as that login sends the event as
    the sender its consumers expect anyway."""
    consumer = consumer_of(queue)
    return bool(consumer) and parked_by == user_name(consumer, prefix or DEFAULT_PREFIX)
