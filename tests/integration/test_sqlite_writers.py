"""The embedded default (SQLite files, one process per service) holds concurrent writers.

SQLite waits for its write lock by sleeping inside C, where no other green thread of the
process runs. A worker that wrote and then called a peer, while another worker or the
outbox relay tried to write, froze its whole service until the busy timeout: every call
answered late or 504 and the relay logged "database is locked". These tests put services
on SQLite files, as ``make run`` does, and drive several writers at once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import eventlet
import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from gateway.rpc import RpcClient
from services.common.context import Caller
from services.common.db import BigIntPK, make_engine
from services.common.entrypoints import rpc
from services.common.errors import ServiceUnavailable
from services.common.models import CommonBase, OutboxEvent
from services.common.rpc import ServiceRpc
from services.common.service import ServiceBase
from tests.support import infra
from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.stack import Stack
from tests.support.world import ADMIN_PASSWORD, PASSWORD, World

WRITERS = 8


class NotesBase(DeclarativeBase):
    pass


class Note(NotesBase):
    __tablename__ = "writer_notes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))


class SlowPeer(ServiceBase):
    """A peer that takes its time to answer, as partners does under load."""

    name = "sqlite_peer"

    @rpc
    def consult(self) -> str:
        eventlet.sleep(0.2)
        return "ok"


class NoteWriter(ServiceBase):
    name = "sqlite_writer"

    peer = ServiceRpc("sqlite_peer")

    @rpc
    def write_then_consult(self, name: str) -> str:
        """Writes, then calls a peer inside the same transaction: the pattern that froze."""
        with self.uow:
            self.uow.session.add(Note(name=name))
            self.uow.session.flush()
            self.uow.emit("note_written", {"name": name})
            return self.uow.commit(self.peer.consult())

    @rpc
    def write(self, name: str) -> int:
        note = Note(name=name)
        with self.uow:
            self.uow.session.add(note)
            self.uow.session.flush()
            return self.uow.commit(note.id)


def system_token() -> Caller:
    return Caller(user_id=1, permissions=frozenset())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'writer.db'}"
    engine = make_engine(url)
    CommonBase.metadata.create_all(engine)
    NotesBase.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def writer_config(rabbit_config: dict, sqlite_url: str) -> dict:
    return rabbit_config | {"DATABASE_URL": sqlite_url, "OUTBOX_INTERVAL": 0.05}


def test_writers_that_call_a_peer_mid_transaction_do_not_freeze_the_service(
    writer_config, sqlite_url, container_factory, amqp_uri, caplog
) -> None:
    container_factory(SlowPeer, writer_config).start()
    container_factory(NoteWriter, writer_config).start()
    stem = unique("note")
    outcomes: Counter = Counter()

    def writer(number: int) -> None:
        client = RpcClient(amqp_uri, timeout=10)
        try:
            for round_ in range(3):
                try:
                    client.call(
                        "sqlite_writer",
                        "write_then_consult",
                        f"{stem}-{number}-{round_}",
                        caller=system_token(),
                    )
                    outcomes["ok"] += 1
                except Exception as exc:
                    outcomes[f"{type(exc).__name__}: {exc}"[:160]] += 1
        finally:
            client.close()

    pool = eventlet.GreenPool()
    for number in range(WRITERS):
        pool.spawn(writer, number)
    pool.waitall()
    assert outcomes == Counter({"ok": WRITERS * 3})
    # The pattern works, but slowly (each writer waits for the others' peer calls): the
    # services' own code fetches first, and the kit names any call that does not.
    assert "write transaction open across a call to sqlite_peer.consult" in caplog.text

    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as session:
            written = session.scalar(
                select(func.count()).select_from(Note).where(Note.name.startswith(stem))
            )
            assert written == WRITERS * 3
        # The relay took its turns among the writers and sent every event.
        deadline = eventlet.Timeout(10)
        try:
            while True:
                with Session(engine) as session:
                    pending = session.scalar(
                        select(func.count())
                        .select_from(OutboxEvent)
                        .where(OutboxEvent.status == "pending")
                    )
                if pending == 0:
                    break
                eventlet.sleep(0.05)
        finally:
            deadline.cancel()
    finally:
        engine.dispose()


HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO writer_notes (name) VALUES ('held')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


def test_a_write_lock_held_by_another_process_answers_service_unavailable(
    writer_config, sqlite_url, container_factory, amqp_uri
) -> None:
    # A manage.py command writing for longer than the busy timeout: the call is refused
    # with 503 (try again) instead of waiting, with the whole service, for its end.
    container_factory(NoteWriter, writer_config).start()
    path = sqlite_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, path, "8"], stdout=subprocess.PIPE, text=True
    )
    client = RpcClient(amqp_uri, timeout=10)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ServiceUnavailable, match="could not use its database"):
            client.call("sqlite_writer", "write", unique("blocked"), caller=system_token())
    finally:
        client.close()
        holder.wait(timeout=30)
    # Once the other process is done, writes go through again.
    client = RpcClient(amqp_uri, timeout=10)
    try:
        assert client.call("sqlite_writer", "write", unique("after"), caller=system_token())
    finally:
        client.close()
    with sqlite3.connect(path) as connection:
        assert (
            connection.execute("SELECT count(*) FROM writer_notes WHERE name = 'held'").fetchone()[
                0
            ]
            == 0
        )


# -- the mix through the gateway, on make run's own configuration -----------------

#: Four partners, each alone on its city: leads entered for that city go to it.
CITIES = ("330100", "330200", "320100", "320500")
ROUNDS = 5


@pytest.fixture(scope="module")
def sqlite_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from services.common.registry import NAMES as SERVICES

    state = Path(tmp_path_factory.mktemp("sqlite-stack"))
    vhost = f"prm-sqlite-{unique()}"
    env = {
        "AMQP_URI": infra.create_vhost(vhost),
        "PRM_VAR_DIR": str(state),
        "PRM_ACCESS_TOKEN_TTL": "3600",
        **{f"{name.upper()}_DATABASE_URL": f"sqlite:///{state / name}.db" for name in SERVICES},
    }
    stack = Stack(SERVICES, state, env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        infra.delete_vhost(vhost)


def test_four_clients_filing_entering_and_declining_leads_on_sqlite(sqlite_stack: Stack) -> None:
    anonymous = Client(sqlite_stack.url)
    admin = anonymous.login("admin", ADMIN_PASSWORD)
    world = World(admin, anonymous)
    teams = []
    for city in CITIES:
        partner = world.partner([city])
        sales = world.user(partner["id"], ["partner_sales"])
        teams.append((city, sales["username"]))
    statuses: Counter = Counter()
    failures: list[str] = []

    def team(city: str, username: str) -> None:
        # Each thread signs in on its own: a requests session is one thread's.
        hq = Client(sqlite_stack.url).login("admin", ADMIN_PASSWORD)
        sales = Client(sqlite_stack.url).login(username, PASSWORD)
        for _ in range(ROUNDS):
            steps = [
                (
                    sales,
                    "/api/v1/customers",
                    {
                        "name": f"{unique('c')}科技有限公司",
                        "contact_name": "王经理",
                        "phone": mobile(),
                        "region_code": city,
                    },
                ),
                (
                    hq,
                    "/api/v1/leads",
                    {
                        "name": f"{unique('l')}贸易有限公司",
                        "contact_name": "李总",
                        "phone": mobile(),
                        "region_code": city,
                    },
                ),
            ]
            lead = None
            for client, path, body in steps:
                response = client.post(path, body, timeout=30)
                statuses[response.status_code] += 1
                if response.status_code != 201:
                    failures.append(f"POST {path}: {response.status_code} {response.text[:200]}")
                elif path.endswith("/leads"):
                    lead = response.json()
            if lead is None:
                continue
            response = sales.post(
                f"/api/v1/leads/{lead['id']}/decline", {"reason": "不做这个行业"}, timeout=30
            )
            statuses[response.status_code] += 1
            if response.status_code != 200:
                failures.append(f"decline: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=team, args=pair) for pair in teams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, (failures[:5], dict(statuses))
    assert statuses == Counter({201: 2 * ROUNDS * len(CITIES), 200: ROUNDS * len(CITIES)})
    for name in sqlite_stack.services:
        log = sqlite_stack.log(name)
        assert "database is locked" not in log, sqlite_stack.tail(name)
        assert "write transaction open across a call" not in log, sqlite_stack.tail(name)


def test_a_read_for_update_waits_for_the_writer_as_on_postgresql(tmp_path: Path) -> None:
    """SQLite has no row locks: a read ``FOR UPDATE`` takes the file's write lock, so two
    workers that read a row to change it on what it says take turns (a claim and a decline
    of one lead once both read "assigned" and both wrote)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    NotesBase.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Note(id=1, name="assigned"))
        session.commit()
    seen: list[str] = []

    def change(to: str, pause: float) -> None:
        with Session(engine) as session:
            note = session.get(Note, 1, with_for_update=True)
            seen.append(note.name)
            eventlet.sleep(pause)  # the other worker runs meanwhile
            note.name = to
            session.commit()

    first = eventlet.spawn(change, "claimed", 0.3)
    eventlet.sleep(0.05)
    second = eventlet.spawn(change, "declined", 0)
    first.wait()
    second.wait()
    assert seen == ["assigned", "claimed"]
    engine.dispose()
