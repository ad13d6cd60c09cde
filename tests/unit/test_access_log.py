"""The access log keeps the shape of a request, not the person it searched for."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from gateway.access_log import MASK, PrivateAccessLogger, masked_query, masked_target


def test_values_of_plain_parameters_stay_and_every_other_value_is_masked() -> None:
    assert masked_query("q=13812348000&page=2&per_page=20&status=approved") == (
        f"q={MASK}&page=2&per_page=20&status=approved"
    )
    assert masked_query("phone=13812348000&whatever=x") == f"{MASK}={MASK}&{MASK}={MASK}"
    # a value in a name's place: unknown names are masked too
    assert masked_query("q=138&13912345678") == f"q={MASK}&{MASK}={MASK}"
    assert masked_query("13912345678") == f"{MASK}={MASK}"
    assert masked_query("") == ""
    assert masked_target("/api/v1/customers?q=%E7%8E%8B") == f"/api/v1/customers?q={MASK}"
    assert masked_target("/api/v1/customers/7") == "/api/v1/customers/7"


def test_the_logged_atoms_hold_no_query_value_referer_query_or_credential() -> None:
    logger = PrivateAccessLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/leads?q=13812348000&page=1",
        "PATH_INFO": "/api/v1/leads",
        "QUERY_STRING": "q=13812348000&page=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "http://user:pw-13812348000@127.0.0.1:8000/leads?q=13812348000",
        "HTTP_AUTHORIZATION": "Bearer eyJsecret",
    }
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer eyJsecret")])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))

    line = " ".join(str(value) for value in atoms.values())
    assert "13812348000" not in line
    assert "eyJsecret" not in line
    assert atoms["r"] == f"GET /api/v1/leads?q={MASK}&page=1 HTTP/1.1"
    assert atoms["f"] == "http://127.0.0.1:8000/leads"
