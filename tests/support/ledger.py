"""What the databases hold after a fault run, against what should be there.

Every order the orders service holds as approved must have exactly one commission entry
and exactly the notifications a quiet order gets (the same kinds to the same users, once
each: the "shape" of a reference order approved before any fault). Every filing the
client saw approved must have left one protected customer with one filing, and every
lead it saw claimed one claimed lead, each with the notifications of a quiet one. Anything
beyond that is duplicated or unexpected; anything short of it is lost.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import bindparam, create_engine, text

from tests.support.workload import Outcome

Shape = Counter  # (kind, user id) -> messages


@dataclass
class Reference:
    """The notifications of quiet work, made before any fault: of an order, of a filing
    (about the filing, then about its customer once approved) and of a lead."""

    order: Shape
    filing: Shape = field(default_factory=Counter)
    customer: Shape = field(default_factory=Counter)
    lead: Shape = field(default_factory=Counter)


@dataclass
class Known:
    """What existed before the run (the world and the references): not the run's."""

    orders: set[int] = field(default_factory=set)
    customers: set[int] = field(default_factory=set)
    leads: set[int] = field(default_factory=set)


@dataclass
class Report:
    scenario: str
    orders: int = 0  # orders the clients asked for
    approved: int = 0  # approved in the orders database
    filed: int = 0  # customers filed by the partner and protected, in the filing database
    claimed: int = 0  # leads claimed, in the filing database
    client_failures: int = 0  # orders a client gave up on
    requests: int = 0
    retried: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    converged_after: float = 0.0
    #: What a scenario counted besides the workload's (timers, deliveries), a line each.
    counts: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any((*self.lost.values(), *self.duplicated.values(), *self.unexpected.values()))

    def lines(self) -> list[str]:
        def show(counts: dict[str, int]) -> str:
            return ", ".join(f"{key} {value}" for key, value in counts.items()) or "0"

        return [
            f"{self.scenario}: {self.orders} orders, {self.approved} approved, "
            f"{self.filed} filings approved, {self.claimed} leads claimed, "
            f"{self.client_failures} given up by the client, {self.requests} requests "
            f"in {self.seconds:.0f} s; consistent {self.converged_after:.1f} s after the last",
            f"  faults: {'; '.join(self.faults) or 'none'}",
            f"  retried by the client: {show(self.retried)}",
            f"  lost: {show(self.lost)}",
            f"  duplicated: {show(self.duplicated)}",
            f"  unexpected: {show(self.unexpected)}",
            *(f"  {line}" for line in self.counts),
        ]


class Ledger:
    def __init__(self, database_urls: dict[str, str], partner_id: int) -> None:
        self.engines = {
            name: create_engine(url, pool_pre_ping=True) for name, url in database_urls.items()
        }
        self.partner_id = partner_id

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    @contextmanager
    def holding(self, service: str, table: str) -> Iterator[None]:
        """Keep every writer of ``table`` waiting (reads go on) until the block ends."""
        with self.engines[service].connect() as connection:
            transaction = connection.begin()
            connection.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
            try:
                yield
            finally:
                transaction.rollback()

    def _rows(self, service: str, sql: str, **params) -> list:
        statement = text(sql)
        if "ids" in params:
            statement = statement.bindparams(bindparam("ids", expanding=True))
        with self.engines[service].connect() as connection:
            return list(connection.execute(statement, params))

    def orders(self) -> dict[int, str]:
        rows = self._rows(
            "orders", "SELECT id, status FROM orders WHERE partner_id = :p", p=self.partner_id
        )
        return {row.id: row.status for row in rows}

    def entries(self) -> Counter:
        rows = self._rows(
            "commission",
            "SELECT order_id, kind FROM commission_entries WHERE partner_id = :p",
            p=self.partner_id,
        )
        return Counter((row.order_id, row.kind) for row in rows)

    def customers(self) -> dict:
        return {
            row.id: row
            for row in self._rows(
                "filing",
                "SELECT id, name, status, source FROM customers WHERE owner_partner_id = :p",
                p=self.partner_id,
            )
        }

    def filings(self) -> dict[int, list]:
        """Customer id -> its filings by the partner."""
        rows = self._rows(
            "filing",
            "SELECT id, customer_id, status FROM filings WHERE partner_id = :p ORDER BY id",
            p=self.partner_id,
        )
        found: dict[int, list] = {}
        for row in rows:
            found.setdefault(row.customer_id, []).append(row)
        return found

    def leads(self) -> dict:
        return {
            row.id: row
            for row in self._rows("filing", "SELECT id, name, status, customer_id FROM leads")
        }

    def lead_actions(self, ids: list[int]) -> dict[int, Counter]:
        """Each lead's assignment history: action (assigned, expired, ...) -> times."""
        if not ids:
            return {}
        rows = self._rows(
            "filing", "SELECT lead_id, action FROM lead_events WHERE lead_id IN :ids", ids=ids
        )
        found: dict[int, Counter] = {lead: Counter() for lead in ids}
        for row in rows:
            found[row.lead_id][row.action] += 1
        return found

    def lead_holders(self, ids: list[int]) -> dict[int, tuple[str, int | None]]:
        """Each lead's status and the partner it is assigned to."""
        if not ids:
            return {}
        rows = self._rows(
            "filing", "SELECT id, status, assigned_partner_id FROM leads WHERE id IN :ids", ids=ids
        )
        return {row.id: (row.status, row.assigned_partner_id) for row in rows}

    def last_message_id(self) -> int:
        """The newest notification's id (0 for none)."""
        return self._rows("notify", "SELECT coalesce(max(id), 0) AS top FROM messages")[0].top

    def user_messages(self, user_id: int, after: int) -> list[int]:
        """The ids of user ``user_id``'s notifications newer than message ``after``."""
        rows = self._rows(
            "notify",
            "SELECT id FROM messages WHERE user_id = :u AND id > :after ORDER BY id",
            u=user_id,
            after=after,
        )
        return [row.id for row in rows]

    def deliveries(self, channel_id: int) -> list:
        """Channel ``channel_id``'s deliveries: id, message id, status, attempts."""
        return self._rows(
            "notify",
            "SELECT id, message_id, status, attempts FROM deliveries WHERE channel_id = :c",
            c=channel_id,
        )

    def messages(self, ids: list[int], subject_type: str = "order") -> dict[int, Shape]:
        if not ids:
            return {}
        rows = self._rows(
            "notify",
            "SELECT subject_id, kind, user_id FROM messages "
            "WHERE subject_type = :t AND subject_id IN :ids",
            ids=ids,
            t=subject_type,
        )
        shapes: dict[int, Shape] = {}
        for row in rows:
            shapes.setdefault(row.subject_id, Counter())[(row.kind, row.user_id)] += 1
        return shapes

    def shape_of(
        self, subject_id: int, subject_type: str = "order", last: str = "order_approved"
    ) -> Shape:
        """The notifications of quiet work, once the last of them (kind ``last``) is in."""
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            shape = self.messages([subject_id], subject_type).get(subject_id, Counter())
            if any(kind == last for kind, _ in shape):
                time.sleep(1.0)  # the ones before came first; let stragglers land
                return self.messages([subject_id], subject_type)[subject_id]
            time.sleep(0.3)
        raise AssertionError(f"{subject_type} {subject_id}: no {last} notification")

    def reconcile(
        self,
        report: Report,
        outcome: Outcome,
        reference: Reference,
        known: Known,
        timeout: float = 180.0,
    ) -> Report:
        """Wait until nothing is missing (or ``timeout``), then count."""
        began = time.monotonic()
        while True:
            self._count(report, outcome, reference, known)
            if not any(report.lost.values()) or time.monotonic() - began > timeout:
                break
            time.sleep(1.0)
        report.converged_after = time.monotonic() - began
        return report

    def _count(self, report: Report, outcome: Outcome, reference: Reference, known: Known) -> None:
        orders = {k: v for k, v in self.orders().items() if k not in known.orders}
        approved = {order_id for order_id, status in orders.items() if status == "approved"}
        seen = set(outcome.approved)
        entries = self.entries()
        shapes = self.messages(sorted(orders))

        customers = {k: v for k, v in self.customers().items() if k not in known.customers}
        filings = self.filings()
        protected = {
            c
            for c, row in customers.items()
            if row.source == "partner" and row.status == "protected"
        }
        leads = {k: v for k, v in self.leads().items() if k not in known.leads}
        claimed = {lead for lead, row in leads.items() if row.status == "claimed"}

        report.approved = len(approved)
        report.filed = len(protected)
        report.claimed = len(claimed)
        report.client_failures = len(outcome.failed)
        report.requests = outcome.requests
        report.retried = dict(sorted(outcome.retried.items()))

        # Notifications: what each piece of work got against its quiet reference.
        expected: list[tuple[str, list[int], Shape]] = [
            ("order", sorted(approved), reference.order),
            ("customer", sorted(protected), reference.customer),
            (
                "filing",
                sorted(
                    f.id for c in protected for f in filings.get(c, []) if f.status == "approved"
                ),
                reference.filing,
            ),
            ("lead", sorted(claimed), reference.lead),
        ]
        missing_messages = extra_messages = 0
        for subject_type, ids, shape_wanted in expected:
            got = shapes if subject_type == "order" else self.messages(ids, subject_type)
            for subject_id in ids:
                shape = got.get(subject_id, Counter())
                missing_messages += sum((shape_wanted - shape).values())
                extra_messages += sum((shape - shape_wanted).values())

        report.lost = {
            "approvals (client saw approved, database does not)": len(seen - approved),
            "commission entries": sum(1 for o in approved if entries[(o, "commission")] == 0),
            "filings (client saw approved, customer not protected)": len(
                set(outcome.filed) - protected
            ),
            "lead claims (client saw claimed, database does not)": len(
                set(outcome.claimed) - claimed
            ),
            "notifications": missing_messages,
        }
        report.duplicated = {
            "orders (one contract, several orders)": 0,  # the unique contract number forbids it
            "commission entries": sum(n - 1 for n in entries.values() if n > 1),
            "customers (one name, several customers)": _twins(r.name for r in customers.values()),
            "filings (one customer, several filings)": sum(
                len(filings.get(c, [])) - 1 for c in customers if len(filings.get(c, [])) > 1
            ),
            "leads (one name, several leads)": _twins(row.name for row in leads.values()),
            "notifications": extra_messages,
        }
        # A client that gave up fails the run on its own (client_failures); what it was
        # making is then neither expected nor unexpected.
        given_up = bool(outcome.failed)
        of_leads = set(outcome.claimed.values())
        report.unexpected = {
            "orders nobody asked for": 0 if given_up else len(set(orders) - seen),
            "approved orders the client did not see approved": len(approved - seen),
            "commission entries of orders not approved": sum(
                n
                for (o, _kind), n in entries.items()
                if o not in approved and o not in known.orders
            ),
            "notifications of orders not approved": sum(
                sum(shape.values())
                for o, shape in shapes.items()
                if o not in approved and (o in seen or not given_up)
            ),
            "customers nobody filed or claimed": 0
            if given_up
            else len(set(customers) - set(outcome.filed) - of_leads),
            "protected filings the client did not see approved": len(
                protected - set(outcome.filed)
            ),
            "leads nobody entered": 0 if given_up else len(set(leads) - set(outcome.claimed)),
        }


def _twins(names) -> int:
    """How many of ``names`` repeat one before them."""
    return sum(n - 1 for n in Counter(names).values() if n > 1)


#: What each fault suite's ledger found, printed at the end of the session.
REPORTS: list[Report] = []
