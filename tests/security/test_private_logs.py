"""The stack's logs hold no credential and no person's contact data.

Before the access log masked query values, a phone searched with ``q=`` sat in the
gateway's log in clear (and the test stack wrote no access log at all, so nothing looked).
The whole run is checked too: ``fixtures.stack`` looks for every password and token the
run's clients sent or received in every log of the stack when it stops.
"""

from __future__ import annotations

import time

from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.filing_api import customer_body, file_customer
from tests.support.fixtures import stack_keys
from tests.support.stack import Stack
from tests.support.world import PASSWORD, World


def _logs_after(stack: Stack, marker: str, timeout: float = 5.0) -> str:
    """Every log of the stack, once the gateway's access log shows ``marker`` (a request
    path made unique for this test): the lines before it are written too."""
    deadline = time.monotonic() + timeout
    while True:
        logs = "\n".join(stack.logs().values())
        if marker in logs or time.monotonic() > deadline:
            return logs
        time.sleep(0.1)


def test_searches_sign_ins_and_filings_leave_no_personal_data_or_secret_in_the_logs(
    stack: Stack, world: World, anonymous: Client
) -> None:
    partner = world.partner(["330106"])
    user = world.user(partner["id"], ["partner_admin"])
    signed_in = anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    ).json()
    client = Client(stack.url, signed_in["access_token"])
    phone = mobile()
    contact = f"联系人{unique()}"
    file_customer(client, customer_body(phone=phone, contact_name=contact))
    wrong = f"wrong-{unique()}-password"
    refused = anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": wrong}
    )
    assert refused.status_code == 401
    refreshed = anonymous.post(
        "/api/v1/auth/refresh", {"refresh_token": signed_in["refresh_token"]}
    ).json()

    searched = client.get("/api/v1/customers", params={"q": phone, "per_page": 5})
    assert searched.status_code == 200
    marker = f"/api/v1/customers/{10**9 + int(time.time())}"
    assert client.get(marker).status_code == 404
    logs = _logs_after(stack, marker)

    assert marker in logs, "the gateway writes an access log"
    assert "per_page=5" in logs, "values that name no person stay readable"
    secrets = {
        "the partner user's phone": phone,
        "the contact's name": contact,
        "a password": PASSWORD,
        "a wrong password": wrong,
        "an access token": signed_in["access_token"],
        "a refresh token": signed_in["refresh_token"],
        "a refreshed refresh token": refreshed["refresh_token"],
        **{f"a configured key ({key[:4]}...)": key for key in stack_keys(stack)},
    }
    leaked = [what for what, value in secrets.items() if value in logs]
    assert not leaked, f"written to the stack's logs: {leaked}"
