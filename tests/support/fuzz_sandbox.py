"""The fuzzing users and their rows (used by tests/e2e/test_fuzz.py).

The fuzzer calls every operation with generated input, on a stack of its own, as an HQ
admin (every HQ permission) and as a partner admin. Both are users made for the run, of a
partner made for the run, so that the fuzzer never works as the stack's ``admin``, who
sets the sandbox up. The sandbox keeps the run from disabling the fuzzing users
themselves, and points generated ids at rows that exist, without leaving any operation
out:

- Rows that existed before the run (the admin, the seeded roles, and the fuzzing users'
  own user, partner and role rows) are left alone. A generated id up to the largest id of
  its kind at the start of the run is sent to one of the sandbox's own rows of that kind:
  a customer pending and one protected, their filings, a lead, a product, a draft and a
  submitted order, each user's notification channel and messages; for a state-changing
  call on a partner, a user or a role (suspend, PATCH, territory, ...), a spare row made
  for the purpose. Larger ids are left as generated (404s, or rows the run made itself),
  and so are the ids of commission statements and entries.
- Nothing is put back after the run: the stack is dropped with it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.support.client import Client, unique

PASSWORD = "fuzz-pass-2026"
API = "/api/v1"
#: Path parameters naming rows, and the kind of row.
ID_PARAMETERS = {
    "partner_id": "partner",
    "user_id": "user",
    "role_id": "role",
    "customer_id": "customer",
    "filing_id": "filing",
    "lead_id": "lead",
    "product_id": "product",
    "order_id": "order",
    "channel_id": "channel",
    "message_id": "message",
}
#: Kinds whose rows belong to one user: each fuzzing user is pointed at its own.
PER_USER = ("channel", "message")
TERRITORY = "540000"  # 西藏
REGION = "540102"  # 拉萨市城关区
#: A token is renewed this many seconds before it expires.
TOKEN_MARGIN = 60


class CountingSession(requests.Session):
    """Counts the requests it sends and the answers by status class.

    Like the test client, it sends once more on a new connection when a kept-alive
    connection was closed by the server while idle (nothing reached the server).
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.by_class: Counter[str] = Counter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent += 1
        try:
            response = super().send(request, **kwargs)
        except requests.ConnectionError as exc:
            if "RemoteDisconnected" not in str(exc):
                raise
            self.close()
            response = super().send(request, **kwargs)
        self.by_class[f"{response.status_code // 100}xx"] += 1
        return response


@dataclass
class FuzzUser:
    """A signed-in user whose token is renewed (by signing in again) before it expires:
    a long run outlasts an access token."""

    anonymous: Client
    username: str
    password: str = PASSWORD
    token: str = ""
    expires_at: float = 0.0
    _client: Client | None = None

    def headers(self) -> dict[str, str]:
        if time.monotonic() > self.expires_at - TOKEN_MARGIN:
            response = self.anonymous.post(
                f"{API}/auth/login", {"username": self.username, "password": self.password}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            self.token = body["access_token"]
            self.expires_at = time.monotonic() + body["expires_in"]
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> Client:
        """A client signed in as this user, with a token that has not run out."""
        self.headers()
        if self._client is None:
            self._client = Client(self.anonymous.base_url)
        self._client.token = self.token
        return self._client


def _as_id(value: Any) -> int | None:
    """A generated path id as a number: an integer, or decimal text."""
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _mobile() -> str:
    return f"139{random.randint(0, 99_999_999):08d}"


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@dataclass
class Sandbox:
    #: The stack's HQ admin, who sets the sandbox up.
    keeper: FuzzUser
    hq: FuzzUser | None = None
    partner: FuzzUser | None = None
    partner_id: int = 0
    #: Per kind of row: the largest id at the start of the run.
    watermark: dict[str, int] = field(default_factory=dict)
    #: Per kind of row: the spare row that state-changing calls on older rows go to.
    spare: dict[str, int] = field(default_factory=dict)
    #: Per (user name or "", kind): the sandbox's rows older ids are pointed at.
    rows: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    redirected: int = 0

    # -- set-up -------------------------------------------------------------------------

    def _partner(self, territory: list[str]) -> dict:
        body = {
            "code": unique("FZ"),
            "name": f"模糊测试伙伴 {unique()}",
            "type": "city_partner",
            "territory": territory,
        }
        return _ok(self.admin.post(f"{API}/partners", body), 201)

    def _user(self, partner_id: int | None, roles: list[str]) -> dict:
        body = {
            "username": unique("fuzz"),
            "password": PASSWORD,
            "display_name": "模糊测试用户",
            "partner_id": partner_id,
            "roles": roles,
        }
        return _ok(self.admin.post(f"{API}/users", body), 201)

    @property
    def admin(self) -> Client:
        return self.keeper.client()

    def _sign_in(self, user: dict) -> FuzzUser:
        fuzz_user = FuzzUser(self.keeper.anonymous, user["username"])
        fuzz_user.headers()
        return fuzz_user

    def set_up(self) -> None:
        partner = self._partner([TERRITORY])
        self.partner_id = partner["id"]
        hq = self._user(None, ["hq_admin"])
        partner_admin = self._user(partner["id"], ["partner_admin"])
        self.hq = self._sign_in(hq)
        self.partner = self._sign_in(partner_admin)
        spare_partner = self._partner([])
        spare_user = self._user(partner["id"], ["partner_sales"])
        spare_role = _ok(
            self.admin.post(
                f"{API}/roles",
                {
                    "code": unique("FZ"),
                    "name": "模糊测试角色",
                    "scope": "partner",
                    "permissions": ["customer.create"],
                },
            ),
            201,
        )
        self.spare = {
            "partner": spare_partner["id"],
            "user": spare_user["id"],
            "role": spare_role["id"],
        }
        self._add("partner", partner["id"], spare_partner["id"])
        self._add("user", hq["id"], partner_admin["id"], spare_user["id"])
        self._add("role", spare_role["id"])
        self._make_rows()
        # Made last: the largest id of each kind is the sandbox's.
        for (_, kind), ids in self.rows.items():
            self.watermark[kind] = max(self.watermark.get(kind, 0), *ids)

    def _add(self, kind: str, *ids: int, user: FuzzUser | None = None) -> None:
        self.rows.setdefault((user.username if user else "", kind), []).extend(ids)

    def _make_rows(self) -> None:
        """Rows of every other kind the fuzzing users may see and act on."""
        assert self.hq is not None and self.partner is not None
        hq, partner = self.hq.client(), self.partner.client()
        pending, protected = self._customer(partner), self._customer(partner)
        filing = protected["filing"]
        for _ in range(5):  # one approval per step of the filing flow
            if filing["status"] != "pending":
                break
            filing = _ok(hq.post(f"{API}/filings/{filing['id']}/approve", {"comment": "同意"}))
        self._add("customer", pending["id"], protected["id"])
        self._add("filing", pending["filing"]["id"], filing["id"])
        product = {
            "sku": unique("FZ-"),
            "name": "模糊测试产品",
            "unit": "套",
            "list_price": "100.00",
        }
        product = _ok(hq.post(f"{API}/products", product), 201)
        self._add("product", product["id"])
        orders = []
        for _ in range(2):
            body = {
                "customer_id": protected["id"],
                "contract_no": unique("FZ-"),
                "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "100.00"}],
            }
            orders.append(_ok(partner.post(f"{API}/orders", body), 201))
        _ok(partner.post(f"{API}/orders/{orders[1]['id']}/submit"))
        self._add("order", *(order["id"] for order in orders))
        lead = {"name": f"模糊测试线索{unique()}", "contact_name": "赵", "phone": _mobile()}
        lead = _ok(hq.post(f"{API}/leads", lead | {"region_code": REGION}), 201)
        self._add("lead", lead["id"])
        for user, client in ((self.hq, hq), (self.partner, partner)):
            # A webhook to a closed local port: deliveries fail at once (e-mail is not
            # configured in tests).
            channel = {"kind": "webhook", "target": f"http://127.0.0.1:9/{user.username}"}
            channel = _ok(client.post(f"{API}/notification-channels", channel), 201)
            self._add("channel", channel["id"], user=user)
            messages = _ok(client.get(f"{API}/notifications"))["items"]
            if messages:
                self._add("message", *(message["id"] for message in messages), user=user)

    def _customer(self, partner: Client) -> dict:
        body = {
            "name": f"模糊测试客户{unique()}有限公司",
            "contact_name": "王先生",
            "phone": _mobile(),
            "region_code": REGION,
        }
        return _ok(partner.post(f"{API}/customers", body), 201)

    # -- during the run -----------------------------------------------------------------

    def guard(self, case: Any, user: FuzzUser) -> None:
        """Point a generated id no larger than the run's first ids at the sandbox's rows."""
        if not case.path_parameters:
            return
        writes = case.method.upper() not in ("GET", "HEAD", "OPTIONS")
        for name, value in list(case.path_parameters.items()):
            kind = ID_PARAMETERS.get(name)
            number = _as_id(value)
            if kind is None or number is None or not 0 < number <= self.watermark.get(kind, 0):
                continue
            if writes and kind in self.spare:
                target = self.spare[kind]
            else:
                owner = user.username if kind in PER_USER else ""
                pool = self.rows.get((owner, kind))
                if not pool:
                    continue
                target = pool[number % len(pool)]
            case.path_parameters[name] = str(target) if isinstance(value, str) else target
            self.redirected += 1
