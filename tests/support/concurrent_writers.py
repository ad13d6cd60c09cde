"""Two writers of one row at once on PostgreSQL: the second is started on a thread and
waited for until PostgreSQL shows it waiting for the lock the first one holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def second_writer_waits(
    engine: Any, write: Callable[[Session], None]
) -> tuple[threading.Thread, list[BaseException]]:
    """``write`` then commit, in a session of its own on a thread; returns the thread and
    the errors it met once PostgreSQL shows its statement waiting for a lock (or it
    failed). Raises AssertionError if it never waits: then nothing was concurrent."""
    errors: list[BaseException] = []
    started = threading.Event()
    pid: list[int] = []

    def run() -> None:
        try:
            with Session(engine) as session:
                pid.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                started.set()
                write(session)
                session.commit()
        except BaseException as exc:  # handed to the test
            errors.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    pause = threading.Event()
    with Session(engine) as watcher:
        for _ in range(600):
            waiting = watcher.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid[0] if pid else -1},
            ).scalar()
            watcher.rollback()
            if waiting == "Lock" or errors:
                return thread, errors
            pause.wait(0.05)
    raise AssertionError("the second writer never waited for the first")
