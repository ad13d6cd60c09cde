"""The web half of the bare ceiling (``bench.ceiling``): a minimal Flask app that answers
``GET /echo`` with what the echo service returns, through the gateway's own RPC client
(``gateway.rpc.RpcClient``: a connection and reply queue per thread, publisher confirms).
No token, no caller, no database. Served by gunicorn with ``gateway/gunicorn.conf.py``.

``PRM_CEILING_AMQP_URI``: the broker (the ceiling's own vhost).
"""

from __future__ import annotations

import os

from flask import Flask, jsonify

from gateway.rpc import RpcClient

#: bench._ceiling_echo.SERVICE (not imported: that module monkey-patches on import).
SERVICE = "bench_echo"

app = Flask(__name__)
client = RpcClient(os.environ["PRM_CEILING_AMQP_URI"], timeout=10.0, client="gateway")


@app.get("/echo")
def echo():
    return jsonify(client.call(SERVICE, "echo", {"ok": True}, caller="-"))
