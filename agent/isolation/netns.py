"""Herd network namespaces, made with pyroute2: loopback only, or allow-listed egress.

An ``egress`` herd gets a veth pair: one end in its namespace, the other in the peer
namespace (the host's, or one a test makes). The allow-list is enforced by policy
routing inside the herd namespace: its main table has no routes at all, and one
rule per allowed ``address:port`` (TCP and UDP) sends matching packets to a table
that routes them through the veth. Anything else is "network unreachable", including
the peer end's own address. Runs in the single-threaded forkserver (pyroute2 forks).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

NETNS_DIR = "/run/netns"
EGRESS_TABLE = 100
EGRESS_RULE_PRIORITY = 100
LINK_NET = ipaddress.ip_network("100.64.0.0/10")  # shared address space (RFC 6598)


@dataclass(frozen=True)
class Link:
    """The addresses and interface names of one herd's veth pair."""

    inside: str
    outside: str
    inside_address: str
    outside_address: str


def link_for(name: str) -> Link:
    """A stable veth pair for namespace ``name`` (interface names fit in 15 bytes)."""
    digest = hashlib.sha256(name.encode()).digest()
    index = int.from_bytes(digest[:4], "big") % (LINK_NET.num_addresses // 4)
    base = int(LINK_NET.network_address) + index * 4
    tag = digest[:4].hex()
    return Link(
        inside=f"rk{tag}n",
        outside=f"rk{tag}h",
        inside_address=str(ipaddress.ip_address(base + 2)),
        outside_address=str(ipaddress.ip_address(base + 1)),
    )


def path(name: str) -> str:
    """Where a named network namespace is bind-mounted."""
    return os.path.join(NETNS_DIR, name)


def create(name: str, egress: Sequence[tuple[str, int]] = (), peer: str | None = None) -> None:
    """Create namespace ``name`` with loopback up; wire it to ``peer`` for ``egress``."""
    from pyroute2 import NetNS, netns

    netns.create(name)
    try:
        with NetNS(name) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        if egress:
            _wire(name, egress, peer)
    except Exception:
        remove(name)
        raise


def _wire(name: str, egress: Sequence[tuple[str, int]], peer: str | None) -> None:
    from pyroute2 import IPRoute, NetNS

    link = link_for(name)
    with IPRoute() as ip:
        peer_spec: dict[str, object] = {"ifname": link.inside, "net_ns_fd": name}
        ip.link("add", ifname=link.outside, kind="veth", peer=peer_spec)
        if peer is not None:
            index = ip.link_lookup(ifname=link.outside)[0]
            ip.link("set", index=index, net_ns_fd=peer)
    outside = NetNS(peer) if peer is not None else IPRoute()
    with outside:
        index = outside.link_lookup(ifname=link.outside)[0]
        outside.addr("add", index=index, address=link.outside_address, prefixlen=32)
        outside.link("set", index=index, state="up")
        outside.route("add", dst=f"{link.inside_address}/32", oif=index, scope=253)
    with NetNS(name) as ns:
        index = ns.link_lookup(ifname=link.inside)[0]
        ns.addr("add", index=index, address=link.inside_address, prefixlen=32)
        ns.link("set", index=index, state="up")
        ns.route("add", dst=f"{link.outside_address}/32", oif=index, scope=253, table=EGRESS_TABLE)
        routed: set[str] = set()
        for address, _port in egress:
            network = ipaddress.ip_network(address, strict=False)
            if network.version != 4:
                raise ValueError(f"egress to {address}: only IPv4 destinations are supported")
            if str(network) not in routed:
                routed.add(str(network))
                ns.route("add", dst=str(network), gateway=link.outside_address, table=EGRESS_TABLE)
        for arguments in _rules(egress):
            ns.rule("add", **arguments)


def rewire(
    name: str,
    egress: Sequence[tuple[str, int]],
    peer: str | None = None,
    old: Sequence[tuple[str, int]] = (),
) -> None:
    """Give existing namespace ``name`` exactly ``egress`` instead of ``old``: the veth
    pair (and its routes) and the old rules go, then it is wired as :func:`create` would."""
    from pyroute2 import IPRoute, NetlinkError, NetNS

    link = link_for(name)
    outside = NetNS(peer) if peer is not None else IPRoute()
    with outside:
        found = outside.link_lookup(ifname=link.outside)
        if found:
            outside.link("del", index=found[0])  # its peer inside goes with it
    with NetNS(name) as ns:
        for arguments in _rules(old):
            with contextlib.suppress(NetlinkError):  # gone already
                ns.rule("del", **arguments)
    if egress:
        _wire(name, egress, peer)


def _rules(egress: Sequence[tuple[str, int]]) -> list[dict[str, object]]:
    """The policy rules that let ``egress`` out (TCP and UDP to each address:port)."""
    rules: list[dict[str, object]] = []
    for address, port in egress:
        network = ipaddress.ip_network(address, strict=False)
        for proto in (6, 17):  # TCP, UDP
            rules.append(
                {
                    "table": EGRESS_TABLE,
                    "priority": EGRESS_RULE_PRIORITY,
                    "dst": str(network.network_address),
                    "dst_len": network.prefixlen,
                    "ip_proto": proto,
                    "dport_range": f"{port}:{port}",
                }
            )
    return rules


def remove(name: str) -> None:
    """Remove namespace ``name`` (its veth pair goes with it); gone already is fine."""
    from agent.isolation import libc

    target = path(name)
    with contextlib.suppress(OSError):
        libc.umount(target)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)


def names(prefix: str) -> list[str]:
    """Named network namespaces whose name starts with ``prefix``."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except OSError:
        return []
