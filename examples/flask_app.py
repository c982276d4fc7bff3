"""A Flask app with one endpoint per behaviour gatewatch shows.

Run it wrapped under gunicorn::

    gunicorn -c examples/gunicorn.conf.py -w 2 examples.flask_app:wrapped   # from a checkout
    gunicorn -w 1 gatewatch.demo.apps.flask_app:wrapped                     # installed
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, request

from gatewatch import GatewatchWSGI

LARGE_BODY = b"x" * (1024 * 1024)

app = Flask(__name__)


@app.get("/fast")
def fast() -> Response:
    return Response("fast\n", mimetype="text/plain")


@app.get("/slow")
def slow() -> Response:
    # Under WSGI waiting and blocking are the same thing: the worker is held either way.
    time.sleep(float(request.args.get("seconds", "0.05")))
    return Response("slow\n", mimetype="text/plain")


@app.get("/blocking")
def blocking() -> Response:
    # The same work as the Starlette app's /blocking (a synchronous sleep), so the demo compares
    # like with like: under WSGI it is no worse than /slow, where in an async view it holds the loop.
    time.sleep(float(request.args.get("seconds", "0.05")))
    return Response("blocking\n", mimetype="text/plain")


@app.get("/stream")
def stream() -> Response:
    chunks = int(request.args.get("chunks", "5"))
    delay = float(request.args.get("delay", "0.01"))

    def body() -> Iterator[bytes]:
        for index in range(chunks):
            time.sleep(delay)
            yield f"chunk {index}\n".encode()

    return Response(body(), mimetype="text/plain")


@app.get("/error")
def error() -> Response:
    raise RuntimeError("this endpoint always fails")


@app.get("/large")
def large() -> Response:
    return Response(LARGE_BODY, mimetype="application/octet-stream")


@app.get("/items/<int:item_id>")
def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@app.get("/ws/echo", websocket=True)  # a rule only WebSocket handshakes match (Werkzeug)
def ws_echo() -> Response:
    # The Starlette app's WebSocket endpoint: WSGI cannot hold a WebSocket, so the upgrade is
    # refused (426), and gatewatch counts the refusal like any response.
    return Response(
        "WebSockets need an ASGI server\n",
        status=426,
        mimetype="text/plain",
        headers={"Upgrade": "websocket"},
    )


@app.route("/echo", methods=["POST", "PUT"])
def echo() -> Response:
    return Response(request.get_data(), mimetype="application/octet-stream")


# The Flask object is a WSGI application: wrap it and serve the wrapper. (Replacing
# ``app.wsgi_app`` instead works too, but mypy rejects assigning to a method.)
wrapped = GatewatchWSGI(app, metrics_path="/metrics")
