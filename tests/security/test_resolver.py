"""The address resolver cannot be turned into a stall of the partners service, which every
request needs (its caller is resolved there): an address beyond the cap is refused, the
costliest addresses under it are answered while other users' requests are still served, and
the addresses the filing service resolves (leads entered or imported) stay under the cap.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.common.regions import ADDRESS_RESOLVE_MAX
from tests.support.client import Client, unique
from tests.support.world import World

RESOLVE = "/api/v1/regions/resolve"
# A name that is both a province and its city (吉林省 / 吉林市), then one of its districts:
# every token counts at two levels of one chain, the costliest shape for trying every choice.
JILIN = ("吉林船营" * ADDRESS_RESOLVE_MAX)[:ADDRESS_RESOLVE_MAX]
# Names each shared by several regions: the costliest shape found for the one-pass resolver
# (bench.worst_inputs).
SHARED_NAMES = ("鼓楼朝阳市中铁西兴安和田临夏城区和平新华西安郊区海南" * 8)[:ADDRESS_RESOLVE_MAX]
# The address of the first report: 438 characters.
REPORTED = "浙江杭州西湖" * 73


def test_parallel_costly_addresses_are_answered_and_others_still_served(
    admin: Client, world: World
) -> None:
    partner = world.partner(["330100"])
    bystander = world.partner_user(partner["id"])
    addresses = [JILIN] * 5 + [SHARED_NAMES] * 5 + [REPORTED] * 5

    def resolve(address: str) -> tuple[str, int, dict]:
        response = admin.get(RESOLVE, params={"address": address})
        return address, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(addresses) + 1) as pool:
        pending = [pool.submit(resolve, address) for address in addresses]
        me = pool.submit(bystander.get, "/api/v1/me").result()
        answers = [future.result() for future in pending]

    assert me.status_code == 200, me.text
    for address, status, body in answers:
        if address == REPORTED:
            assert status == 422, body
            assert body["code"] == "invalid_input" and "address" in body["errors"], body
        else:
            assert status == 200, body
    jilin = {"province": "220000", "city": "220200", "district": "220204"}
    assert all(body == jilin for address, _, body in answers if address == JILIN)


def test_an_address_one_character_over_the_cap_is_refused(admin: Client) -> None:
    at_cap = "浙江省杭州市西湖区" + "文" * (ADDRESS_RESOLVE_MAX - 9)
    assert admin.get(RESOLVE, params={"address": at_cap}).status_code == 200
    response = admin.get(RESOLVE, params={"address": at_cap + "路"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"


def test_a_lead_with_an_address_longer_than_the_cap_is_routed_by_its_opening(
    admin: Client,
) -> None:
    address = "浙江省杭州市西湖区文三路 90 号" + "东" * 300
    lead = {
        "name": f"长地址线索{unique()}有限公司",
        "contact_name": "张",
        "phone": "13912345678",
        "address": address[:300],
    }
    response = admin.post("/api/v1/leads", lead)
    assert response.status_code == 201, response.text
    assert response.json()["region_code"] == "330106"
