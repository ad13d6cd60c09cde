"""Sign-in throttling that slows an attacker down without locking the innocent out.

Behind an ingress every client reaches the gateway from the ingress's address, so the
gateway reads the client's address from X-Forwarded-For, trusting only as many hops as
``PRM_TRUSTED_PROXIES`` says. Failures slow down one account from one address (a back-off
that grows with each consecutive failure), never the same account from elsewhere; an
address that fails against many accounts is stopped on its own.

Two guards stop what the back-off does not see (one account tried from many addresses, one
address trying many accounts), but they spare an address the account has signed in from
before: a distributed attack, or a neighbour behind the same carrier-grade NAT, does not
lock out the real user where it always signs in. A new password set by HQ ends the
account's wait at once.

Most tests run a gateway and a partners service of their own, as behind one proxy, with a
low per-address limit; the shared stack trusts no proxy (the default), which the tests at
the end check, the last one from many loopback addresses.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from services.common.registry import NAMES as SERVICES
from tests.support import infra
from tests.support.client import Client, unique
from tests.support.stack import Stack
from tests.support.world import PASSWORD, World

LOGIN = "/api/v1/auth/login"
ATTACKER = "203.0.113.66"
REAL_USER = "198.51.100.7"
PER_ADDRESS = 12
NEW_PASSWORD = "harbour-kite-5527"


class SignInStack(Stack):
    """The gateway and the partners service: all that signing in needs."""

    def start(self) -> None:
        self.migrate()
        self.start_service("partners")
        self.start_gateway()
        self._wait_for_sign_in()

    def _wait_for_sign_in(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.tail(name)}")
            try:
                last = requests.post(
                    f"{self.url}{LOGIN}", json={"username": "admin", "password": "x"}, timeout=5
                )
                if last.status_code == 401:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"sign-in never answered: {last}; {self.tail('gateway')}")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run = secrets.token_hex(4)
    vhost = f"prm-test-signin-{run}"
    env = {
        "AMQP_URI": infra.create_vhost(vhost),
        "PRM_VAR_DIR": str(tmp_path_factory.mktemp("signin-var")),
        # SQLite files under the stack's own var/, not the run's databases
        **{f"{name.upper()}_DATABASE_URL": "" for name in SERVICES},
        "PRM_TRUSTED_PROXIES": "1",
        "PRM_LOGIN_FAILURES_PER_ADDRESS": str(PER_ADDRESS),
    }
    stack = SignInStack(SERVICES, Path(tmp_path_factory.mktemp("signin-logs")), env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        infra.delete_vhost(vhost)


@pytest.fixture(scope="module")
def proxied_world(proxied: Stack) -> World:
    from tests.support.world import ADMIN_PASSWORD

    anonymous = Client(proxied.url)
    return World(anonymous.login("admin", ADMIN_PASSWORD), anonymous)


def sign_in(stack: Stack, username: str, password: str, address: str) -> requests.Response:
    return requests.post(
        f"{stack.url}{LOGIN}",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def test_an_attackers_failures_do_not_stop_the_real_user_signing_in_from_elsewhere(
    proxied: Stack, proxied_world: World
) -> None:
    victim = proxied_world.user(None, ["marketing"])
    answers = [
        sign_in(proxied, victim["username"], f"guess-{n}", ATTACKER).status_code for n in range(8)
    ]
    assert set(answers) <= {401, 429} and 429 in answers, answers
    # From the attacker's address even the right password now waits its turn ...
    slowed = sign_in(proxied, victim["username"], PASSWORD, ATTACKER)
    assert slowed.status_code == 429, slowed.text
    assert int(slowed.headers["Retry-After"]) > 0

    # ... while the real user, elsewhere, signs in at once.
    real = sign_in(proxied, victim["username"], PASSWORD, REAL_USER)
    assert real.status_code == 200, real.text
    assert real.json()["user"]["id"] == victim["id"]


def test_failures_from_one_address_against_many_users_do_not_lock_other_users_out(
    proxied: Stack, proxied_world: World
) -> None:
    other = proxied_world.user(None, ["marketing"])
    sprayer = "203.0.113.99"
    for _ in range(PER_ADDRESS):
        assert sign_in(proxied, unique("nobody"), "Summer2026!", sprayer).status_code == 401

    # The spraying address is stopped, whichever account it tries next ...
    stopped = sign_in(proxied, other["username"], PASSWORD, sprayer)
    assert stopped.status_code == 429, stopped.text
    # ... and nobody else is.
    assert sign_in(proxied, other["username"], PASSWORD, "198.51.100.23").status_code == 200


def test_a_spraying_address_does_not_stop_the_users_who_signed_in_from_it_before(
    proxied: Stack, proxied_world: World
) -> None:
    # Carrier-grade NAT: the real users and the attacker share one public address.
    shared = "100.64.7.1"
    neighbour = proxied_world.user(None, ["marketing"])
    newcomer = proxied_world.user(None, ["marketing"])
    assert sign_in(proxied, neighbour["username"], PASSWORD, shared).status_code == 200
    for _ in range(PER_ADDRESS):
        assert sign_in(proxied, unique("nobody"), "Summer2026!", shared).status_code == 401

    again = sign_in(proxied, neighbour["username"], PASSWORD, shared)
    assert again.status_code == 200, (again.status_code, again.headers.get("Retry-After"))
    # A user signing in from there for the first time waits until the spray has aged out.
    first_time = sign_in(proxied, newcomer["username"], PASSWORD, shared)
    assert first_time.status_code == 429, first_time.text
    assert int(first_time.headers["Retry-After"]) > 0


def test_a_password_set_by_hq_ends_the_accounts_wait(proxied: Stack, proxied_world: World) -> None:
    user = proxied_world.user(None, ["marketing"])
    home = "198.51.100.41"
    for n in range(8):
        sign_in(proxied, user["username"], f"forgotten-{n}", home)
    assert sign_in(proxied, user["username"], PASSWORD, home).status_code == 429

    reset = proxied_world.admin.patch(f"/api/v1/users/{user['id']}", {"password": NEW_PASSWORD})
    assert reset.status_code == 200, reset.text

    signed_in = sign_in(proxied, user["username"], NEW_PASSWORD, home)
    assert signed_in.status_code == 200, (signed_in.status_code, signed_in.text)


def test_the_client_cannot_choose_its_address_past_the_trusted_proxy(
    proxied: Stack, proxied_world: World
) -> None:
    victim = proxied_world.user(None, ["marketing"])
    # The proxy appends the address it saw; whatever the client put in front is not read.
    for n in range(8):
        forged = f"192.0.2.{n + 1}, 203.0.113.77"
        sign_in(proxied, victim["username"], f"guess-{n}", forged)

    response = sign_in(proxied, victim["username"], PASSWORD, "192.0.2.200, 203.0.113.77")

    assert response.status_code == 429, response.text


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(world: World) -> None:
    # The shared stack runs with the default: no proxy in front, the peer's own address.
    victim = world.user(None, ["marketing"])
    for n in range(8):
        world.anonymous.post(
            LOGIN,
            {"username": victim["username"], "password": f"guess-{n}"},
            headers={"X-Forwarded-For": f"192.0.2.{n + 1}"},
        )

    response = world.anonymous.post(
        LOGIN,
        {"username": victim["username"], "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.8"},
    )

    assert response.status_code == 429, response.text


# -- the shared stack, from many loopback addresses --------------------------------------

ATTACKER_ADDRESSES = [f"127.0.77.{n}" for n in range(1, 21)]
REAL_USER_ADDRESS = "127.0.88.1"


class FromAddress(HTTPAdapter):
    """Connections from one loopback address (all of 127.0.0.0/8 is this machine's)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def test_failures_from_many_addresses_do_not_lock_out_a_known_address(
    stack: Stack, world: World
) -> None:
    # 20 addresses with 5 wrong passwords each: none is slowed down yet, and together they
    # reach the per-account guard of 100.
    user = world.user(None, ["channel_manager"])
    real = session_from(REAL_USER_ADDRESS)
    signed_in = real.post(
        stack.url + LOGIN, json={"username": user["username"], "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text

    answers = []
    for address in ATTACKER_ADDRESSES:
        attacker = session_from(address)
        for attempt in range(5):
            wrong = {"username": user["username"], "password": f"guess-{attempt}"}
            answers.append(attacker.post(stack.url + LOGIN, json=wrong).status_code)
    assert set(answers) == {401}, answers

    again = real.post(stack.url + LOGIN, json={"username": user["username"], "password": PASSWORD})
    assert again.status_code == 200, (again.status_code, again.headers.get("Retry-After"))
    # A first sign-in from an address the account never used waits while the attack lasts.
    newcomer = session_from("127.0.88.2").post(
        stack.url + LOGIN, json={"username": user["username"], "password": PASSWORD}
    )
    assert newcomer.status_code == 429, newcomer.text
