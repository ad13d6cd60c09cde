"""A list sorted by a field (``services.common.schemas.ordered``), on PostgreSQL and on
SQLite: equal values go by id in the list's direction, so pages never overlap; a field the
list does not offer is invalid input naming those it does."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from services.common.db import make_engine
from services.common.errors import InvalidInput
from services.common.migrations import upgrade
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.orders import catalogue
from services.orders.models import Product
from services.orders.schemas import ProductListArgs
from tests.support import infra
from tests.support.client import unique

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    if request.param == "postgresql":
        with infra.migrated_database("orders") as url:
            engine = make_engine(url)
            with Session(engine) as session:
                yield session
            engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sort') / 'orders.db'}"
        upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
        engine = make_engine(url)
        with Session(engine) as session:
            yield session
        engine.dispose()


def products(session: Session, prices: list[str]) -> tuple[str, list[int]]:
    marker = unique("SORT")
    rows = [
        Product(sku=f"{marker}-{n}", name=marker, unit="套", list_price=Decimal(price))
        for n, price in enumerate(prices)
    ]
    session.add_all(rows)
    session.commit()
    return marker, [row.id for row in rows]


def page(session: Session, query: dict) -> list[int]:
    args = load(ProductListArgs, query)
    answer = catalogue.list_products(UnitOfWork(lambda: session, "orders"), args)
    return [item["id"] for item in answer["items"]]


@pytest.mark.parametrize("sort", ["list_price", "-list_price"])
def test_equal_values_go_by_id_and_pages_never_overlap(session: Session, sort: str) -> None:
    marker, (a, b, c, d) = products(session, ["5.00", "5.00", "3.00", "9.00"])

    pages = [
        page(session, {"q": marker, "sort": sort, "per_page": "2", "page": str(n)}) for n in (1, 2)
    ]

    expected = [c, a, b, d] if sort == "list_price" else [d, b, a, c]
    assert pages == [expected[:2], expected[2:]]


def test_without_sort_the_list_keeps_its_order(session: Session) -> None:
    marker, ids = products(session, ["5.00", "3.00"])

    assert page(session, {"q": marker}) == ids  # by SKU


def test_a_field_not_offered_is_invalid_input_naming_those_that_are(session: Session) -> None:
    for sort in ("unit", "-created_at", "list_price desc", "id,sku"):
        with pytest.raises(InvalidInput) as refused:
            load(ProductListArgs, {"sort": sort})
        assert refused.value.errors["sort"] == [
            "sort by one of: id, sku, name, list_price (a leading - for descending)"
        ]
