"""One name must not freeze the filing service (ReDoS).

The attack: the English legal-suffix rule was a regular expression with nested quantifiers;
``"杭州" + " co ltd" * 28 + "x"`` (199 characters, within the name's 200) backtracked for
minutes in C, holding the filing service's one process: the check answered 504 after
``RPC_TIMEOUT`` and so did every other tenant's call to filing. Suffixes are now removed
by a loop over the trailing words. No timing is asserted: the status says whether the
service answered within the timeout (bench/ has the figures).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.client import Client
from tests.support.world import World

CHECK = "/api/v1/customers/check"
# The shapes that backtracked worst: each "co ltd" matched as one legal form or as two,
# with the separators split every way, before the final "x" failed the match.
WORST_NAMES = {
    "co ltd": "杭州" + " co ltd" * 28 + "x",
    "co,ltd": "杭州" + " co,ltd" * 28 + "x",
    "co.,ltd": "杭州" + " co.,ltd" * 24 + "x",
    "co  ltd": "杭州" + " co  ltd" * 24 + "x",
}


@pytest.fixture(scope="module")
def tenants(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    attacker = world.partner(["330100"])
    bystander = world.partner(["320100"])
    return {
        "attacker": world.partner_user(attacker["id"]),
        "bystander": world.partner_user(bystander["id"]),
    }


@pytest.mark.parametrize("name", WORST_NAMES.values(), ids=WORST_NAMES.keys())
def test_a_name_made_to_backtrack_is_checked_like_any_other(tenants: dict, name: str) -> None:
    assert len(name) <= 200
    response = tenants["attacker"].post(CHECK, {"name": name})
    assert response.status_code == 200, response.text
    assert response.json() == {"conflict": False}


def test_another_tenant_is_served_while_the_worst_names_are_checked(tenants: dict) -> None:
    with ThreadPoolExecutor(max_workers=len(WORST_NAMES) + 1) as pool:
        attacks = [
            pool.submit(tenants["attacker"].post, CHECK, {"name": name})
            for name in WORST_NAMES.values()
        ]
        bystander = pool.submit(tenants["bystander"].post, CHECK, {"name": "南京鼓楼贸易有限公司"})
        answered = bystander.result()
        assert answered.status_code == 200, answered.text
        assert answered.json() == {"conflict": False}
        assert [attack.result().status_code for attack in attacks] == [200] * len(attacks)
