"""Advertised listeners for the shared-nlb pattern: what each broker must advertise.

Pure: no I/O. A shared-nlb broker N is reached at ``host(N):(port_bases[scheme] + N)``
where ``host(N)`` is the broker's own first host name from ListNodes. Two
mechanisms make a broker advertise it, both built from the same
`AdvertisedMapping`:

- ``msk-configuration``: MSK's ``custom.advertised.listeners`` configuration
  property, ``LISTENER_NAME://hostname-pattern:port+{broker_id}`` with one
  comma-separated entry per client listener, documented at
  https://docs.aws.amazon.com/msk/latest/developerguide/custom-domain-names.html
- ``broker-override``: the broker's dynamic ``advertised.listeners``, where only
  the client listener's entry is replaced (`with_client_entries`).

The server.properties editor (`properties_with`) changes only the lines of one
key and keeps every other byte of the file as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from msk_privatelink.kernel.errors import ConfigError
from msk_privatelink.kernel.models import AuthScheme, ClusterInventory

CUSTOM_ADVERTISED_LISTENERS = "custom.advertised.listeners"
BROKER_ID_TEMPLATE = "{broker_id}"

# MSK's client listener name per auth scheme.
LISTENER_NAMES: dict[AuthScheme, str] = {
    AuthScheme.PLAINTEXT: "CLIENT",
    AuthScheme.TLS: "CLIENT_SECURE",
    AuthScheme.SASL_SCRAM: "CLIENT_SASL_SCRAM",
    AuthScheme.SASL_IAM: "CLIENT_IAM",
}
CLIENT_LISTENER_NAMES = frozenset(LISTENER_NAMES.values())

_BROKER_HOST = re.compile(r"^b-(?P<id>\d+)\.(?P<domain>[A-Za-z0-9.-]+)$")
_MAX_PORT = 65535


class AdvertisedListenersError(ConfigError):
    """The wanted advertised listeners cannot be expressed or applied as asked."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where clients reach one broker: its host and, per scheme, its port."""

    broker_id: int
    host: str
    ports: tuple[tuple[AuthScheme, int], ...]

    def port(self, scheme: AuthScheme) -> int:
        return dict(self.ports)[scheme]

    def endpoint(self, scheme: AuthScheme) -> str:
        return f"{self.host}:{self.port(scheme)}"


@dataclass(frozen=True)
class AdvertisedMapping:
    """Per broker id: host, and per scheme: port (``port_bases[scheme] + broker_id``)."""

    schemes: tuple[AuthScheme, ...]
    port_bases: tuple[tuple[AuthScheme, int], ...]
    brokers: tuple[BrokerAddress, ...]

    @property
    def broker_ids(self) -> tuple[int, ...]:
        return tuple(b.broker_id for b in self.brokers)

    def broker(self, broker_id: int) -> BrokerAddress:
        for address in self.brokers:
            if address.broker_id == broker_id:
                return address
        raise KeyError(broker_id)

    def client_entries(self, broker_id: int) -> dict[str, str]:
        """Listener name -> ``NAME://host:port`` for one broker's enabled client listeners."""
        address = self.broker(broker_id)
        return {
            LISTENER_NAMES[s]: f"{LISTENER_NAMES[s]}://{address.endpoint(s)}" for s in self.schemes
        }

    def host_pattern(self) -> str:
        """The ``b-{broker_id}.<domain>`` pattern every broker's host fits.

        MSK's property holds one host pattern per listener, so the brokers'
        names must differ only in their id.
        """
        domains = set()
        for address in self.brokers:
            match = _BROKER_HOST.match(address.host)
            if match is None or int(match["id"]) != address.broker_id:
                raise AdvertisedListenersError(
                    f"broker {address.broker_id} host {address.host!r} is not "
                    f"b-{address.broker_id}.<domain>: custom.advertised.listeners can only "
                    "express hosts that differ by broker id"
                )
            domains.add(match["domain"])
        if len(domains) != 1:
            raise AdvertisedListenersError(
                f"brokers are in {len(domains)} domains ({sorted(domains)}); "
                "custom.advertised.listeners needs exactly one"
            )
        return f"b-{BROKER_ID_TEMPLATE}.{domains.pop()}"

    def custom_listener_entries(self) -> dict[str, str]:
        """Listener name -> its ``custom.advertised.listeners`` entry."""
        pattern = self.host_pattern()
        bases = dict(self.port_bases)
        return {
            LISTENER_NAMES[s]: f"{LISTENER_NAMES[s]}://{pattern}:{bases[s]}+{BROKER_ID_TEMPLATE}"
            for s in self.schemes
        }


def build_mapping(
    schemes: Iterable[AuthScheme],
    port_bases: Mapping[AuthScheme, int],
    broker_hosts: Mapping[int, str],
) -> AdvertisedMapping:
    """The mapping from the enabled schemes, their port bases and each broker's first host."""
    wanted = tuple(sorted(set(schemes), key=list(AuthScheme).index))
    if not wanted:
        raise AdvertisedListenersError("no client auth scheme to advertise")
    missing = [s.value for s in wanted if s not in port_bases]
    if missing:
        raise AdvertisedListenersError(f"no port base for {', '.join(missing)}")
    if not broker_hosts:
        raise AdvertisedListenersError("no broker host names to advertise")
    addresses = []
    for broker_id, host in sorted(broker_hosts.items()):
        if broker_id < 0 or not host or "," in host or "/" in host or ":" in host:
            raise AdvertisedListenersError(f"broker {broker_id} has no usable host ({host!r})")
        ports = tuple((s, port_bases[s] + broker_id) for s in wanted)
        out_of_range = [f"{s.value}:{p}" for s, p in ports if not 1 <= p <= _MAX_PORT]
        if out_of_range:
            raise AdvertisedListenersError(
                f"broker {broker_id} ports out of range: {', '.join(out_of_range)}"
            )
        addresses.append(BrokerAddress(broker_id, host, ports))
    return AdvertisedMapping(
        schemes=wanted,
        port_bases=tuple((s, port_bases[s]) for s in wanted),
        brokers=tuple(addresses),
    )


def mapping_for(
    inventory: ClusterInventory,
    schemes: Iterable[AuthScheme],
    port_bases: Mapping[AuthScheme, int],
) -> AdvertisedMapping:
    """`build_mapping` over the inventory's brokers that already have a host name."""
    hosts = {b.broker_id: b.endpoints[0] for b in inventory.brokers if b.endpoints}
    return build_mapping(schemes, port_bases, hosts)


# ------------------------------------------------------------ listener lists


def split_listeners(value: str) -> list[tuple[str, str]]:
    """``NAME://host:port,...`` -> [(NAME, the entry exactly as written), ...]."""
    if not value.strip():
        return []
    entries = []
    for entry in value.split(","):
        name, separator, _ = entry.partition("://")
        if not separator or not name.strip():
            raise AdvertisedListenersError(f"listener entry {entry!r} is not NAME://host:port")
        entries.append((name.strip(), entry))
    return entries


def with_client_entries(current: str, wanted: Mapping[str, str]) -> str:
    """``current`` with the entries of the listeners in ``wanted`` replaced.

    Every other entry (REPLICATION, REPLICATION_SECURE, *_VPCE, ...) is kept
    exactly as written, in its place. A wanted listener the value lacks is
    refused: a broker cannot advertise a listener it does not have.
    """
    entries = split_listeners(current)
    names = {name for name, _ in entries}
    absent = sorted(set(wanted) - names)
    if absent:
        raise AdvertisedListenersError(
            f"the broker has no {', '.join(absent)} listener in advertised.listeners {current!r}"
        )
    return ",".join(wanted.get(name, entry) for name, entry in entries)


def custom_listeners_value(current: str | None, mapping: AdvertisedMapping) -> str:
    """The ``custom.advertised.listeners`` value we want, given the one in force.

    Entries for listeners that are not client listeners are kept; the client
    listeners are exactly the mapping's (a scheme no longer exposed falls back
    to MSK's own address).
    """
    kept = [
        entry for name, entry in split_listeners(current or "") if name not in CLIENT_LISTENER_NAMES
    ]
    return ",".join([*mapping.custom_listener_entries().values(), *kept])


def same_listeners(left: str | None, right: str | None) -> bool:
    """Whether two listener lists hold the same entries (order and spaces aside)."""

    def normalised(value: str | None) -> dict[str, str]:
        try:
            return {name: entry.strip() for name, entry in split_listeners(value or "")}
        except AdvertisedListenersError:
            return {"": value or ""}

    return normalised(left) == normalised(right)


# ----------------------------------------------------------- server.properties


@dataclass(frozen=True)
class _Line:
    raw: bytes  # the logical line with its continuation lines and line ends
    key: str | None  # None for blank lines and comments


def _logical_lines(blob: bytes) -> list[_Line]:
    physical = blob.splitlines(keepends=True)
    lines: list[_Line] = []
    index = 0
    while index < len(physical):
        start = index
        # A line ending in an odd number of backslashes continues on the next.
        while index < len(physical) - 1 and _continues(physical[index]):
            index += 1
        raw = b"".join(physical[start : index + 1])
        lines.append(_Line(raw, _key_of(physical[start])))
        index += 1
    return lines


def _continues(line: bytes) -> bool:
    body = line.rstrip(b"\r\n")
    trailing = len(body) - len(body.rstrip(b"\\"))
    return trailing % 2 == 1


def _key_of(line: bytes) -> str | None:
    text = line.decode("utf-8", errors="replace").lstrip(" \t\f")
    if not text.strip() or text.startswith(("#", "!")):
        return None
    match = re.match(r"((?:\\.|[^=:\s\\])+)", text)
    return match.group(1) if match else None


def _value_of(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").lstrip(" \t\f")
    text = re.sub(r"\\\r?\n[ \t\f]*", "", text)  # joined continuation lines
    match = re.match(r"(?:\\.|[^=:\s\\])+[ \t\f]*[=:]?[ \t\f]*(.*)", text, re.DOTALL)
    return match.group(1).rstrip("\r\n") if match else ""


def property_value(blob: bytes, key: str) -> str | None:
    """The value of ``key`` in a server.properties blob (the last one wins), or None."""
    found = None
    for line in _logical_lines(blob):
        if line.key == key:
            found = _value_of(line.raw)
    return found


def properties_with(blob: bytes, key: str, value: str) -> bytes:
    """``blob`` with ``key`` set to ``value``; every other line kept byte for byte.

    The first line of ``key`` is replaced in place and any later ones are
    dropped; without one, the line is appended (after a line end if the blob
    lacks a final one), using the blob's own line-end style.
    """
    if "\n" in value or "\r" in value:
        raise AdvertisedListenersError(f"{key} must be a single line")
    newline = b"\r\n" if b"\r\n" in blob else b"\n"
    line = f"{key}={value}".encode() + newline
    out: list[bytes] = []
    placed = False
    for logical in _logical_lines(blob):
        if logical.key != key:
            out.append(logical.raw)
        elif not placed:
            ending = logical.raw[len(logical.raw.rstrip(b"\r\n")) :]
            out.append(line[: -len(newline)] + ending if ending else line[: -len(newline)])
            placed = True
    if not placed:
        if out and not out[-1].endswith((b"\n", b"\r")):
            out.append(newline)
        out.append(line)
    return b"".join(out)
