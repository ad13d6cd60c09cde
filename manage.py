"""Operate the stack: migrate, run a service, seed demo data, ping, parked events.

python manage.py migrate [SERVICE ...]     migrations, reference data, event queues
python manage.py run SERVICE               run one service (Nameko)
python manage.py seed                      demo data for a local run
python manage.py seed --business [--url U] the demo's customers, leads, orders, payments and
                                           commission, made through the running gateway
                                           (default http://127.0.0.1:$PORT) as demo users
python manage.py ping SERVICE              exit 0 if the service answers
python manage.py parked list|replay        events parked after failing N times
python manage.py reseal [SERVICE ...]      stored secrets and personal data sealed again with
                                           the newest key, blind indexes recomputed with it
python manage.py admin restore [--username admin] [--password-file F]
                                           a locked-out installation mended: the HQ admin
                                           role whole again, the user an active HQ admin
python manage.py admin create --username NAME [--password-file F]
                                           a new HQ admin
(the admin's password: from the file, else PRM_ADMIN_PASSWORD, else asked for)
python manage.py audit verify              the audit log's chain walked and checked:
                                           exit 0 and the count when whole, else 1 and
                                           the first record that breaks it
python manage.py broker definitions [--vhost V] [--operator-user U]
                                           RabbitMQ definitions: one user per process, its
                                           permissions (services/common/broker.py)
python manage.py broker apply [--vhost V]  those users created on the broker of AMQP_URI
python manage.py broker k8s                deploy/k8s/broker-users.yaml, rendered
python manage.py broker move-queues        the queues declared as they must be (quorum
                                           queues); an older installation's classic
                                           queues moved, messages and all (migrate does
                                           it too); refused while a queue has consumers
python manage.py testing age-customer --id N --until ISO [--clear-reminder]
python manage.py testing age-lead --id N --until ISO
python manage.py testing age-idle --id N --since ISO
python manage.py testing age-release --id N --partner P --at ISO
python manage.py testing age-order --order-id N --days D
python manage.py testing stored-channel --id N
python manage.py testing lose-channel-key --id N
python manage.py testing put-stored-channel-target --id N --stored VALUE
                                           test runs only (refused unless PRM_ENV=test):
                                           time moved on, and stored states no request
                                           can make (see cmd_testing)
"""

import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # first: Nameko and psycopg2 must be cooperative

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from kombu import Connection  # noqa: E402

from services.common.config import amqp_ssl, get_settings  # noqa: E402
from services.common.context import Caller  # noqa: E402
from services.common.db import make_engine  # noqa: E402
from services.common.entrypoints import (  # noqa: E402
    ATTEMPTS_HEADER,
    event_queues,
)
from services.common.logs import configure_logging  # noqa: E402
from services.common.migrations import upgrade  # noqa: E402

ROOT = Path(__file__).resolve().parent
#: Seconds before a service whose container died is started again (see cmd_run).
RESTART_PAUSE = 2.0

# Migrations live in services/<name>/migrations, and services/<name>/seed.py may define
# bootstrap(session) (run by every migration) and seed_demo(session) (demo data).
from services.common.registry import SERVICES  # noqa: E402

log = logging.getLogger("manage")


def service_class(name: str) -> type:
    module, _, cls = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def _seed_module(name: str):
    try:
        return importlib.import_module(f"services.{name}.seed")
    except ModuleNotFoundError:
        return None


@contextmanager
def _session(name: str) -> Iterator:
    """A session on ``name``'s own database (through its own models), committed when the
    block ends without an error; the engine is let go afterwards (tests call the ``testing``
    commands many times)."""
    from sqlalchemy.orm import Session

    engine = make_engine(get_settings().database_url(name))
    try:
        with Session(engine) as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def declare_queues(names: list[str]) -> list:
    """Every exchange (the processes only refer to them: their logins may not declare or
    delete one, services/common/broker.py), ``prm.parked``, the RPC queue of every service
    and the durable queues of every event handler, so that no event finds no queue; a
    queue that exists in another shape (a classic queue of an older installation) is moved
    to the quorum queue it must be (services/common/queues.py). What was moved."""
    from services.common.broker import declare_exchanges, parked_queue, rpc_queue
    from services.common.config import broker_settings
    from services.common.queues import QueueMover

    config = get_settings().nameko_config()
    broker = broker_settings()
    with Connection(config["AMQP_URI"], connect_timeout=5, ssl=config["AMQP_SSL"]) as connection:
        declare_exchanges(connection.channel())
        mover = QueueMover(connection, broker.user_prefix, broker.operator_user)
        queues = [parked_queue(), *(rpc_queue(name) for name in SERVICES)]
        for name in names:
            queues.extend(event_queues(service_class(name), config))
        return [moved for queue in queues if (moved := mover.ensure(queue)) is not None]


def cmd_migrate(args: argparse.Namespace) -> None:
    names = args.services or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        sys.exit(f"unknown services: {', '.join(sorted(unknown))}")
    for name in names:
        upgrade(name, ROOT / "services" / name / "migrations")
        seed = _seed_module(name)
        if seed is not None and hasattr(seed, "bootstrap"):
            with _session(name) as session:
                seed.bootstrap(session)
    _report_moves(_declare_queues_or_exit())
    print(f"migrated: {', '.join(names)}")


def _declare_queues_or_exit() -> list:
    from services.common.queues import QueueInUse, WrongLogin

    try:
        return declare_queues(list(SERVICES))
    except (QueueInUse, WrongLogin) as exc:
        sys.exit(str(exc))


def _report_moves(moved: list) -> None:
    for queue in moved:
        print(f"queue {queue.queue} moved to a quorum queue ({queue.messages} message(s))")


def cmd_seed(args: argparse.Namespace) -> None:
    if args.business:
        # Across services: made through the gateway once the stack runs (services/demo.py).
        from services import demo

        try:
            created = demo.seed_business(args.url)
        except (demo.DemoError, OSError) as exc:
            sys.exit(f"demo business data: {exc}")
        print(f"demo business data: {'created' if created else 'already there'}")
        return
    for name in SERVICES:
        seed = _seed_module(name)
        if seed is not None and hasattr(seed, "seed_demo"):
            with _session(name) as session:
                created = seed.seed_demo(session)
            print(f"demo data for {name}: {'created' if created else 'already there'}")


def cmd_run(args: argparse.Namespace) -> None:
    """Run one service until SIGTERM/SIGINT. A container that dies of an error it could not
    handle (a lost database or broker at the wrong moment) is started again after a pause,
    as a supervisor would: its messages were not acknowledged and come back."""
    from nameko.runners import ServiceRunner

    configure_logging(args.service)
    settings = get_settings()
    config = settings.nameko_config()
    stopping = False
    runner = None

    def shutdown(signum, frame):
        nonlocal stopping
        if stopping:
            if signum == signal.SIGINT:  # Ctrl-C again: do not wait for the workers
                os._exit(1)
            return  # stopping already: a second stop would stop every timer twice
        stopping = True
        if runner is not None:
            eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    while not stopping:
        runner = ServiceRunner(config)
        runner.add_service(service_class(args.service))
        runner.start()
        log.info("service %s started", args.service)
        try:
            runner.wait()
            return
        except Exception:
            log.exception("service %s died; starting it again", args.service)
            eventlet.sleep(RESTART_PAUSE)


def cmd_ping(args: argparse.Namespace) -> None:
    from gateway.rpc import RpcClient
    from services.common.config import broker_settings

    settings = get_settings()
    broker = broker_settings()
    # Its reply queue bears the name of this login's process (a service pinging itself in
    # its own container), which the broker requires of a per-process user.
    own = broker.user_prefix and broker.user.startswith(broker.user_prefix)
    client_name = broker.user.removeprefix(broker.user_prefix or "") if own else "manage"
    client = RpcClient(settings.amqp_uri, timeout=args.timeout, client=client_name)
    try:
        result = client.call(args.service, "ping", caller=Caller.system_caller("manage"))
    except Exception as exc:
        print(f"{args.service}: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        client.close()
    print(json.dumps(result))


def cmd_parked(args: argparse.Namespace) -> None:
    """List parked events, or send them back to the queue they came from (see
    ``PARKED_HELP``)."""
    from services.common.broker import parked_by_its_consumer, parked_queue
    from services.common.config import broker_settings
    from services.common.queues import (
        DELIVERY_LIMIT,
        SENDER_HEADER,
        dead_lettered_from,
        moved_sender,
        parked_by,
    )

    settings = get_settings()
    broker = broker_settings()
    config = settings.nameko_config()
    # Replayed only into a queue of an event handler of this release (the queue a parked
    # message names is a header: anyone who may park may write it).
    handler_queues = {
        queue.name for name in SERVICES for queue in event_queues(service_class(name), config)
    }
    with Connection(
        settings.amqp_uri, connect_timeout=5, ssl=amqp_ssl(settings.amqp_uri)
    ) as connection:
        channel = connection.channel()
        queue = parked_queue()(channel)
        queue.declare()
        held = []
        while (message := queue.get(no_ack=False)) is not None:
            held.append(message)
        for message in held:
            headers = message.headers or {}
            # Parked by its handler, or dead-lettered by the broker after DELIVERY_LIMIT
            # deliveries that never came back settled (services/common/queues.py).
            dead_from = None if headers.get("x-prm-queue") else dead_lettered_from(headers)
            origin = headers.get("x-prm-queue") or dead_from
            # Who put it into prm.parked: the broker checked this user_id, no header is (but
            # the operator's own record of it, on a copy it made moving the queue).
            parker = parked_by(
                (message.properties or {}).get("user_id"),
                headers,
                broker.operator_user or broker.user,
            )
            vouched = bool(origin) and parked_by_its_consumer(origin, parker, broker.user_prefix)
            sender = headers.get(SENDER_HEADER) if vouched else None
            # The user the event came with, as its consumer recorded it when it parked it;
            # else whoever put it there.
            sent_by = headers.get("x-prm-user-id") if vouched else parker
            error = headers.get("x-prm-last-error")
            if dead_from:
                # The broker moved it as it was: its user_id is whoever published it last,
                # which the broker checked (the consumer itself, for its retries).
                sender = moved_sender(origin, parker, headers, broker.user_prefix, broker.user)
                sent_by = sender
                reason = (headers.get("x-death") or [{}])[0].get("reason")
                error = (
                    f"delivered {DELIVERY_LIMIT} times and never settled (the delivery limit)"
                    if reason == "delivery_limit"
                    else f"dead-lettered by the broker: {reason}"
                )
            if origin and origin not in handler_queues:
                error = f"{error or ''} (no handler of this release has queue {origin})".strip()
            print(
                json.dumps(
                    {
                        "queue": origin,
                        "attempts": headers.get(ATTEMPTS_HEADER),
                        "error": error,
                        "parked_at": headers.get("x-prm-parked-at"),
                        "sent_by": sent_by,
                        "parked_by": parker,
                        "event": message.payload,
                    },
                    ensure_ascii=False,
                )
            )
            if (
                args.action == "replay"
                and origin in handler_queues
                and (not args.queue or args.queue == origin)
            ):
                producer = connection.Producer(channel)
                headers = {
                    k: v
                    for k, v in headers.items()
                    if not k.startswith(("x-prm-", "x-death", "x-first-death", "x-delivery"))
                }
                # The sender its consumer verified comes back with it, vouched for by this
                # login (PRM_BROKER_OPERATOR_USER), only if that consumer itself parked it
                # (or the broker dead-lettered it: then the user that published it).
                if sender:
                    headers[SENDER_HEADER] = sender
                producer.publish(
                    message.payload,
                    routing_key=origin,
                    headers=headers,
                    serializer="json",
                    delivery_mode=2,
                    user_id=broker.user,
                )
                message.ack()
            else:
                message.reject(requeue=True)
        print(f"{len(held)} parked message(s)", file=sys.stderr)


PARKED_HELP = (
    "sent_by is the user an event came with, as its consumer recorded it when it parked it;"
    " for a message that anyone else put into prm.parked, that one's user (parked_by)."
    " replay sends each event back to its queue as this login (AMQP_URI's user), and"
    " restores the sender its consumer verified only when the message was parked by that"
    " consumer's own broker user (the AMQP user_id, which the broker checks; never a"
    " header): <PRM_BROKER_USER_PREFIX><service>, the prefix being prm- when unset here."
    " A message the broker dead-lettered (delivered DELIVERY_LIMIT times, never settled)"
    " goes back to the queue it came from with the user that published it as its sender."
)


def cmd_reseal(args: argparse.Namespace) -> None:
    """After a new key was put first in PRM_SECRETS_KEY (or after an upgrade that sealed
    more columns): seal every stored secret and personal value with it, and recompute the
    blind indexes with it (a service's ``rekeying.reindex``, where it has one), so that the
    old key can be dropped. Safe to run again, and while the services run."""
    from importlib.util import find_spec

    from services.common.sealing import reseal_all

    names = args.services or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        sys.exit(f"unknown services: {', '.join(sorted(unknown))}")
    for name in names:
        metadata = importlib.import_module(f"services.{name}.models").Base.metadata
        with _session(name) as session:
            rows = reseal_all(session, metadata)
            indexed = 0
            if find_spec(f"services.{name}.rekeying") is not None:
                rekeying = importlib.import_module(f"services.{name}.rekeying")
                if hasattr(rekeying, "reindex"):
                    indexed = rekeying.reindex(session.connection())
        print(f"{name}: {rows} row(s) sealed with the newest key, {indexed} reindexed")


def _admin_password(args: argparse.Namespace) -> str:
    if args.password_file:
        # The file's last line break is not part of the password (echo writes one).
        password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    elif os.environ.get("PRM_ADMIN_PASSWORD"):
        password = os.environ["PRM_ADMIN_PASSWORD"]
    elif not sys.stdin.isatty():
        sys.exit("no password: give --password-file, set PRM_ADMIN_PASSWORD, or run in a terminal")
    else:
        import getpass

        password = getpass.getpass("new password of the HQ admin: ")
        if getpass.getpass("the same again: ") != password:
            sys.exit("the two passwords differ")
    return password


def cmd_admin(args: argparse.Namespace) -> None:
    """Work on the partners database directly, so that it mends an installation where no
    one can sign in as an admin any more. Prints nothing secret."""
    from services.common.errors import AppError
    from services.partners import seed

    password = _admin_password(args)
    action = seed.restore_admin if args.action == "restore" else seed.create_admin
    with _session("partners") as session:
        try:
            user = action(session, args.username, password)
        except AppError as exc:
            details = json.dumps(exc.errors, ensure_ascii=False) if exc.errors else ""
            sys.exit(f"admin {args.action} refused: {exc.message} {details}".rstrip())
    print(f"{user['username']} (id {user['id']}) is an active HQ admin; roles: {user['roles']}")


def cmd_audit(args: argparse.Namespace) -> None:
    """Walk the audit log's chain on the partners database (read only): every record's
    hash recomputed, every link checked. Prints the count and the head's hash (keep it
    where the database's owner cannot write, to compare with a later run); exit 1 with the
    first record that breaks the chain."""
    from services.partners import audit

    with _session("partners") as session:
        verdict = audit.verify(session)
    if not verdict.whole:
        print(
            f"audit log broken at record {verdict.broken_id}: {verdict.reason}"
            f" ({verdict.count - 1} record(s) before it are whole)",
            file=sys.stderr,
        )
        sys.exit(1)
    if verdict.count == 0:
        print("audit log whole: 0 records")
        return
    print(
        f"audit log whole: {verdict.count} record(s);"
        f" head {verdict.head_id} hash {verdict.head_hash}"
    )


def cmd_broker(args: argparse.Namespace) -> None:
    """One broker user per process (services/common/broker.py). Passwords: the
    PRM_BROKER_PASSWORD_<NAME> set, else made once into var/keys/broker-<name>; the
    operator's (``--operator-user``) from PRM_BROKER_OPERATOR_PASSWORD."""
    from services.common import broker
    from services.common.config import DEFAULT_AMQP_URI, with_login

    base = os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI
    prefix = os.environ.get("PRM_BROKER_USER_PREFIX") or broker.DEFAULT_PREFIX
    if args.action == "k8s":
        print(broker.topology_yaml(), end="")
        return
    if args.action == "move-queues":
        moved = _declare_queues_or_exit()
        _report_moves(moved)
        print(f"queues as they must be: {len(moved)} moved")
        return
    vhost = args.vhost or broker.uri_vhost(base)
    extra = []
    if args.operator_user:
        password = os.environ.get("PRM_BROKER_OPERATOR_PASSWORD") or ""
        if len(password) < 16:
            sys.exit("PRM_BROKER_OPERATOR_PASSWORD must hold 16 characters or more")
        extra.append({
            "name": args.operator_user, "password_hash": broker.password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["administrator"], "limits": {},
        })  # fmt: skip
    document = broker.definitions(
        broker.passwords(broker.process_names()), vhost, prefix, extra_users=extra
    )
    if extra:
        document["permissions"].append(
            {"user": args.operator_user, "vhost": vhost,
             "configure": ".*", "write": ".*", "read": ".*"}
        )  # fmt: skip
    if args.action == "definitions":
        print(json.dumps(document, indent=2))
        return
    try:
        how = broker.apply(document, base)
        # The broker that took them must be AMQP_URI's (rabbitmqctl may manage another).
        probe = broker.process_names()[-1]
        login = with_login(base, broker.user_name(probe, prefix), broker.passwords([probe])[probe])
        with Connection(login, connect_timeout=5, ssl=amqp_ssl(login)) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        sys.exit(f"broker users not created: {exc}")
    users = ", ".join(user["name"] for user in document["users"])
    print(f"broker users on vhost {vhost} ({how}): {users}")


class TestingRefused(SystemExit):
    """A ``testing`` command was asked for outside a test run."""


def _testing_only() -> None:
    if os.environ.get("PRM_ENV") != "test":
        raise TestingRefused(
            "manage.py testing is refused unless PRM_ENV=test: it changes times and stored"
            " values as no user may"
        )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise TestingRefused(f"{moment.isoformat()} has no time zone: give one (Z for UTC)")
    return moment


def age_customer(customer_id: int, until: datetime, clear_reminder: bool = False) -> None:
    """Customer ``customer_id``'s protection ends at ``until`` (in the past: the filing
    timer releases it; within a week: it reminds), and with ``clear_reminder`` no reminder
    counts as sent. Test runs only: the clock of a 180-day protection cannot be waited for."""
    _testing_only()
    until = _aware(until)
    from services.filing.models import Customer

    with _session("filing") as session:
        customer = session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise TestingRefused(f"no customer {customer_id}")
        customer.protected_until = until
        if clear_reminder:
            customer.reminder_sent_at = None


def age_lead(lead_id: int | list[int], until: datetime) -> None:
    """Lead ``lead_id``'s claim deadline is ``until`` (in the past: the filing timer passes
    it on), or each of several leads' in one transaction (one tick of the timer finds them
    all). Test runs only: a 72-hour deadline cannot be waited for."""
    _testing_only()
    until = _aware(until)
    from services.filing.models import Lead

    with _session("filing") as session:
        for one in lead_id if isinstance(lead_id, list) else [lead_id]:
            lead = session.get(Lead, one, with_for_update=True)
            if lead is None:
                raise TestingRefused(f"no lead {one}")
            lead.claim_deadline = until


def age_idle(customer_id: int, since: datetime) -> None:
    """Customer ``customer_id``'s protection began at ``since`` (a follow-up recorded
    later stays where it is): the filing timer counts its idle period from then. Test runs
    only: an idle period of months cannot be waited for."""
    _testing_only()
    since = _aware(since)
    from services.filing.models import Customer

    with _session("filing") as session:
        customer = session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise TestingRefused(f"no customer {customer_id}")
        customer.protection_started_at = since


def age_release(customer_id: int, partner_id: int, at: datetime) -> None:
    """Partner ``partner_id``'s releases of customer ``customer_id`` happened at ``at``:
    its cooldown counts from then. Test runs only."""
    _testing_only()
    at = _aware(at)
    from sqlalchemy import update

    from services.filing.models import PoolMove
    from services.filing.schemas import POOL_RELEASED

    with _session("filing") as session:
        moved = session.execute(
            update(PoolMove)
            .where(
                PoolMove.customer_id == customer_id,
                PoolMove.partner_id == partner_id,
                PoolMove.action == POOL_RELEASED,
            )
            .values(at=at)
        )
        if not moved.rowcount:
            raise TestingRefused(f"partner {partner_id} never released customer {customer_id}")


def age_order(order_id: int, days: int) -> None:
    """Approved order ``order_id`` was approved ``days`` days earlier: its approval, its
    payment plan's due dates, its payments' days and the reminders sent of it all move
    ``days`` days back (the default plan follows the approval). Test runs only: an
    installment cannot be waited for until it is overdue."""
    _testing_only()
    from datetime import timedelta

    from sqlalchemy import select

    from services.orders.models import Order, Payment, PaymentInstallment, PaymentReminder

    back = timedelta(days=days)
    with _session("orders") as session:
        order = session.get(Order, order_id, with_for_update=True)
        if order is None or order.approved_at is None:
            raise TestingRefused(f"no approved order {order_id}")
        order.approved_at = order.approved_at - back
        # Rows are moved one by one (a date less an interval is no SQL of SQLite's).
        for installment in session.scalars(
            select(PaymentInstallment).where(PaymentInstallment.order_id == order_id)
        ):
            installment.due_date -= back
        for payment in session.scalars(select(Payment).where(Payment.order_id == order_id)):
            payment.received_on -= back
        for reminder in session.scalars(
            select(PaymentReminder).where(PaymentReminder.order_id == order_id)
        ):
            reminder.due_date -= back
            reminder.sent_on -= back


def _channel_table():
    from services.notify.models import Channel

    return Channel.__table__


def stored_channel(channel_id: int) -> dict[str, str | None]:
    """The target and secret of channel ``channel_id`` as the database holds them (sealed),
    not as the service reads them: what proves that no secret is stored in plain text."""
    _testing_only()
    from sqlalchemy import Text, select, type_coerce

    table = _channel_table()
    with _session("notify") as session:
        row = session.execute(
            select(
                type_coerce(table.c.target, Text).label("target"),
                type_coerce(table.c.secret, Text).label("secret"),
            ).where(table.c.id == channel_id)
        ).one_or_none()
    if row is None:
        raise TestingRefused(f"no channel {channel_id}")
    return {"target": row.target, "secret": row.secret}


def put_stored_channel_target(channel_id: int, stored: str) -> None:
    """Store ``stored`` as channel ``channel_id``'s target exactly as given (not sealed
    again): how a value taken with ``stored_channel`` is put back."""
    _testing_only()
    from sqlalchemy import Text, type_coerce, update

    table = _channel_table()
    with _session("notify") as session:
        done = session.execute(
            update(table).where(table.c.id == channel_id).values(target=type_coerce(stored, Text))
        )
        if done.rowcount != 1:
            raise TestingRefused(f"no channel {channel_id}")


def lose_channel_key(channel_id: int) -> str:
    """Channel ``channel_id``'s target sealed again with a key no process holds, as if that
    key had been dropped from PRM_SECRETS_KEY; returns the stored value it had, for
    ``put_stored_channel_target``. The API always seals with the configured ring, so no
    request can make this state, which the service must answer with 503."""
    from services.common.sealing import seal, unseal

    before = stored_channel(channel_id)["target"]
    if before is None:
        raise TestingRefused(f"channel {channel_id} has no target")
    lost = seal(unseal(before), keys=(secrets.token_urlsafe(32),))
    put_stored_channel_target(channel_id, lost)
    return before


def cmd_testing(args: argparse.Namespace) -> None:
    """Test runs only (PRM_ENV=test): move a customer's or a lead's clock, or read and put
    a channel's stored values. What a test cannot reach through the API in its time."""
    _testing_only()
    if args.action == "age-customer":
        age_customer(args.id, datetime.fromisoformat(args.until), args.clear_reminder)
    elif args.action == "age-lead":
        age_lead(args.id, datetime.fromisoformat(args.until))
    elif args.action == "age-idle":
        age_idle(args.id, datetime.fromisoformat(args.since))
    elif args.action == "age-release":
        age_release(args.id, args.partner, datetime.fromisoformat(args.at))
    elif args.action == "age-order":
        age_order(args.order_id, args.days)
    elif args.action == "stored-channel":
        print(json.dumps(stored_channel(args.id)))
    elif args.action == "lose-channel-key":
        print(json.dumps({"previous": lose_channel_key(args.id)}))
    else:
        put_stored_channel_target(args.id, args.stored)


def main() -> None:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser("migrate")
    migrate.add_argument("services", nargs="*", help=f"some of: {', '.join(SERVICES)}")
    seed = sub.add_parser("seed")
    seed.add_argument(
        "--business",
        action="store_true",
        help="customers, leads, orders and commission through the running gateway",
    )
    seed.add_argument(
        "--url",
        default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
        help="the gateway (default http://127.0.0.1:$PORT)",
    )
    run = sub.add_parser("run")
    run.add_argument("service", choices=list(SERVICES))
    ping = sub.add_parser("ping")
    ping.add_argument("service", choices=list(SERVICES))
    ping.add_argument("--timeout", type=float, default=float(os.environ.get("RPC_TIMEOUT", 5)))
    parked = sub.add_parser("parked", help="list or replay parked events", epilog=PARKED_HELP)
    parked.add_argument("action", choices=["list", "replay"])
    parked.add_argument("--queue", help="replay only the messages of this queue")
    reseal = sub.add_parser("reseal")
    reseal.add_argument("services", nargs="*", help=f"some of: {', '.join(SERVICES)}")
    admin = sub.add_parser("admin", help="restore or create an HQ admin")
    admin_actions = admin.add_subparsers(dest="action", required=True)
    restore = admin_actions.add_parser("restore")
    restore.add_argument("--username", default="admin")
    create = admin_actions.add_parser("create")
    create.add_argument("--username", required=True)
    for action in (restore, create):
        action.add_argument("--password-file", help="a file holding the password")
    audit = sub.add_parser("audit", help="check the audit log")
    audit.add_argument("action", choices=["verify"])
    broker_cmd = sub.add_parser("broker", help="one broker user per process")
    broker_cmd.add_argument("action", choices=["definitions", "apply", "k8s", "move-queues"])
    broker_cmd.add_argument("--vhost", help="default: the virtual host of AMQP_URI")
    broker_cmd.add_argument(
        "--operator-user", help="also an administrator (PRM_BROKER_OPERATOR_PASSWORD)"
    )
    testing = sub.add_parser("testing", help="test runs only (PRM_ENV=test)")
    testing_actions = testing.add_subparsers(dest="action", required=True)
    for name in ("age-customer", "age-lead"):
        action = testing_actions.add_parser(name)
        action.add_argument("--id", type=int, required=True)
        action.add_argument("--until", required=True, help="ISO 8601 time with a zone")
        if name == "age-customer":
            action.add_argument("--clear-reminder", action="store_true")
    idle = testing_actions.add_parser("age-idle")
    idle.add_argument("--id", type=int, required=True)
    idle.add_argument("--since", required=True, help="ISO 8601 time with a zone")
    released = testing_actions.add_parser("age-release")
    released.add_argument("--id", type=int, required=True)
    released.add_argument("--partner", type=int, required=True)
    released.add_argument("--at", required=True, help="ISO 8601 time with a zone")
    aged = testing_actions.add_parser("age-order")
    aged.add_argument("--order-id", type=int, required=True)
    aged.add_argument("--days", type=int, required=True, help="days moved back")
    for name in ("stored-channel", "lose-channel-key", "put-stored-channel-target"):
        action = testing_actions.add_parser(name)
        action.add_argument("--id", type=int, required=True)
        if name == "put-stored-channel-target":
            action.add_argument("--stored", required=True)
    args = parser.parse_args()
    if args.command != "run":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    {
        "migrate": cmd_migrate,
        "seed": cmd_seed,
        "run": cmd_run,
        "ping": cmd_ping,
        "parked": cmd_parked,
        "reseal": cmd_reseal,
        "admin": cmd_admin,
        "audit": cmd_audit,
        "broker": cmd_broker,
        "testing": cmd_testing,
    }[args.command](args)


if __name__ == "__main__":
    main()
