"""A Lambda Function URL on 127.0.0.1: HTTP requests in, payload-format-2.0 events to a handler, its
response back out. For tests that drive a Function URL handler with a real browser, and for building
single events without one.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def function_url_event(method: str, target: str, *, host: str = "abc123.lambda-url.eu-west-2.on.aws",
                       headers: Mapping[str, str] | None = None, body: bytes | None = None,
                       source_ip: str = "198.51.100.7", user_agent: str = "pytest") -> dict[str, Any]:
    """The event Lambda builds for ``method target`` (``target`` = path and query) sent to a Function URL."""
    parts = urlsplit(target)
    header_map = {"host": host, "user-agent": user_agent, **{k.lower(): v for k, v in (headers or {}).items()}}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous", "apiId": host.split(".")[0], "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {"method": method, "path": parts.path or "/", "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": header_map["user-agent"]},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if parts.query:
        event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True  # as Lambda does for a form post
    return event


def response_body(response: Mapping[str, Any]) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


class _Handler(BaseHTTPRequestHandler):
    invoke: Invoke

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        event = function_url_event(
            self.command, self.path, host=self.headers.get("host", ""), headers=dict(self.headers.items()),
            body=self.rfile.read(length) if length else None, source_ip=self.client_address[0],
            user_agent=self.headers.get("user-agent", ""),
        )
        response = type(self).invoke(event)
        body = response_body(response)
        self.send_response(int(response.get("statusCode", 200)))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


@contextmanager
def serve_function_url() -> Iterator[tuple[str, Callable[[Invoke], None]]]:
    """A server bound to a free port: yields its base URL (ending in ``/``) and ``attach(invoke)`` to call
    once the handler exists (the URL is usually needed to build it). One request at a time, like a
    single warm Lambda instance."""

    handler_class = type("Handler", (_Handler,), {})
    server = HTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)

    def attach(invoke: Invoke) -> None:
        handler_class.invoke = staticmethod(invoke)
        thread.start()

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", attach
    finally:
        if thread.is_alive():
            server.shutdown()
        server.server_close()
