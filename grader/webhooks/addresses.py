"""Where webhooks may go: public addresses only, so a course's endpoint cannot reach inside.

The outbound worker shares the backend network with PostgreSQL, Redis and the web app, and a
cloud host answers metadata requests on a link-local address: a webhook URL naming any of them
would turn the grader into a proxy into its own network (SSRF). The host is resolved and every
address it resolves to must be public, at registration and again before each delivery (DNS can
change in between), and the delivery connects to the addresses it checked (sending.py).
GRADER_WEBHOOK_ALLOW_PRIVATE lifts this for development on one machine.
"""

from __future__ import annotations

import ipaddress
import socket


class AddressRefused(ValueError):
    pass


def _private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_public(host: str, port: int | None) -> list[str]:
    """The addresses to connect to, in the resolver's order; AddressRefused unless every address
    ``host`` resolves to is public."""
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host!r} does not resolve ({exc}); check the host name.") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if _private(address):
            raise AddressRefused(
                f"{host!r} resolves to {address}, a loopback, private, link-local or reserved address: "
                "webhooks go to public addresses only (a receiver inside the grader's own network is "
                "not allowed)."
            )
    if not found:
        raise AddressRefused(f"{host!r} does not resolve to any address; check the host name.")
    return list(dict.fromkeys(str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in found))
