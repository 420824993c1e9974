"""Forwarded headers, trusted only from the proxy in front of the site.

With `proxy_hops = 1` the app reads the client's address and scheme from X-Forwarded-For and
X-Forwarded-Proto. Whoever reaches gunicorn without nginx (its TCP port, by mistake or from the
same machine) could then choose their address — and so escape the login throttling — or claim
https. The headers are honoured only for a peer that is the proxy: gunicorn's unix socket (no peer
address) or an address of `[security] trusted_proxies`; from anyone else they are dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")


class TrustedProxyFix:
    def __init__(self, app: Any, hops: int, trusted: Iterable[str]):
        self.app = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.trusted = [ipaddress.ip_network(value, strict=False) for value in trusted]

    def _is_proxy(self, peer: str) -> bool:
        if peer in ("", "unix"):  # gunicorn on a unix socket: only what can open the socket (nginx)
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._is_proxy(environ.get("REMOTE_ADDR") or ""):
            return self.fixed(environ, start_response)
        for header in FORWARDED:
            environ.pop(header, None)
        return self.app(environ, start_response)
