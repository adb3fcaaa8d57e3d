"""Allowed source addresses of an outside system (an HL7 sender, a scanner).

Kept as text, one address or network per word (``10.7.1.20 10.7.2.0/24``), because
an admin reads and writes them that way and a hospital's list is a handful of
entries. Parsed with :mod:`ipaddress`; a peer written as an IPv4-mapped IPv6 address
(``::ffff:10.7.1.20``, what a dual-stack listener reports) matches its IPv4 entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from scheduling.errors import ValidationFailed
from scheduling.i18n import N_

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ENTRIES = 50


class BadAddressList(ValidationFailed):
    """An entry that is neither an IP address nor a network."""


def parse_networks(text: str | Iterable[str] | None) -> list[Network]:
    """The networks of a list (words separated by spaces, commas or new lines).

    A bare address is a one-address network. Raises ``BadAddressList`` naming the
    first entry that is not an address or network (host bits set, such as
    ``10.7.1.5/24``, are refused: the admin probably meant something else).
    """
    if text is None:
        return []
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    if len(words) > MAX_ENTRIES:
        raise BadAddressList(
            N_("At most %(count)s addresses or networks"), code="too-many", count=MAX_ENTRIES
        )
    networks: list[Network] = []
    for word in words:
        try:
            network = ipaddress.ip_network(word.strip(), strict=True)
        except ValueError:
            raise BadAddressList(
                N_("%(entry)s is not an IP address or network (e.g. 10.7.1.20 or 10.7.1.0/24)"),
                code="bad-address",
                entry=word[:60],
            ) from None
        if network not in networks:
            networks.append(network)
    return networks


def normalise(text: str | None) -> str:
    """The list as it is stored: each entry once, canonical spelling, space-separated."""
    return " ".join(
        str(n) if n.num_addresses > 1 else str(n.network_address) for n in parse_networks(text)
    )


def peer_address(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A connection's peer as an address (IPv4-mapped IPv6 as IPv4); None if unreadable."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether a peer address lies in one of the networks (never for an unreadable one)."""
    peer = peer_address(address)
    if peer is None:
        return False
    return any(peer.version == n.version and peer in n for n in networks)
