"""One webhook POST, to the address that was checked and never to one DNS gives later.

Checking a name and then letting an HTTP client resolve it again leaves a gap (DNS rebinding): a
name with a zero TTL can answer a public address to the check and 169.254.169.254 (a cloud's
metadata service) or 127.0.0.1 to the connection. So the name is resolved once, every address it
gives is checked, and the connection goes to a checked address; the Host header and TLS (SNI and
the certificate's name) still use the name. No proxy from the environment, no redirects: the
signed body goes to the registered URL only.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0


def post(
    url: str, body: bytes, headers: dict[str, str], addresses: list[str] | None
) -> tuple[int | None, str | None]:
    """POST ``body``; (HTTP status or None, what went wrong or None). ``addresses``: connect to the
    first of these (the checked ones) that answers, or resolve the URL's host as usual when None
    (private addresses allowed)."""
    connection = _connection(url)
    if addresses is not None:
        connection._create_connection = _to(addresses)  # type: ignore[attr-defined]
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status = int(response.status)
        if 200 <= status < 300:
            return status, None
        said = response.read(200).decode("utf-8", "replace").strip()
        hint = " (redirects are not followed: register the final URL)" if 300 <= status < 400 else ""
        return status, f"HTTP {status}{hint}" + (f": {said}" if said else "")
    except TimeoutError:
        return None, f"no answer within {TIMEOUT_SECONDS:g} s"
    except (OSError, http.client.HTTPException, ValueError) as error:
        return None, f"could not connect: {error}"
    finally:
        connection.close()


def _connection(url: str) -> http.client.HTTPConnection:
    """The connection for ``url``, its port always explicit: given None, http.client would read the
    port from the host, and an IPv6 literal's last group (``2001:db8::1``) would be taken for one."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            host, parts.port or 443, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(host, parts.port or 80, timeout=TIMEOUT_SECONDS)


def _to(addresses: list[str]):  # type: ignore[no-untyped-def]
    """http.client's connect step, sent to the checked ``addresses`` in turn (a dual-stack receiver
    on a host without IPv6 routes answers on the next), whatever the name resolves to now."""

    def create_connection(host_port, timeout=None, source_address=None):  # type: ignore[no-untyped-def]
        failure: OSError = OSError("no address to connect to")
        for address in addresses:
            try:
                return socket.create_connection((address, host_port[1]), timeout, source_address)
            except OSError as error:
                failure = error
        raise failure

    return create_connection
