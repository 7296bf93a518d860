"""A topology as a Mermaid flowchart (renders on GitHub and in most docs
tools): consumers -> endpoint services -> load balancers -> brokers, the
brokers grouped by Availability Zone, each edge to a broker labelled with
the listener's scheme and port."""

from __future__ import annotations

import re

from msk_privatelink.topology.model import Topology, account_of

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def node_id(kind: str, name: str) -> str:
    return f"{kind}_{_UNSAFE.sub('_', name)}"


def _label(text: str) -> str:
    # Mermaid labels in double quotes: a quote inside would end the label.
    return text.replace('"', "#quot;")


def render_mermaid(t: Topology) -> str:
    lines = ["flowchart LR"]
    regions = ", ".join((t.region, *t.consumer_regions))
    lines.append(f'  subgraph consumers["Consumer accounts ({_label(regions)})"]')
    for c in t.consumers:
        lines.append(f'    {node_id("c", c.principal)}["{_label(account_of(c.principal))}"]')
    if not t.consumers:
        lines.append('    c_none["(none admitted)"]')
    lines.append("  end")
    lines.append(f'  subgraph provider["{_label(t.cluster_name)}: {t.pattern}, {t.region}"]')
    for lb in t.load_balancers:
        if lb.service_name:
            lines.append(f'    {node_id("s", lb.service_name)}(["{_label(lb.service_name)}"])')
        bootstrap = [f"{x.scheme} {x.port}" for x in lb.listeners if x.broker_id is None]
        extra = f"<br/>bootstrap: {', '.join(bootstrap)}" if bootstrap else ""
        lines.append(f'    {node_id("lb", lb.name)}["NLB {_label(lb.name)}{extra}"]')
    for zone in t.zones:
        lines.append(f'    subgraph {node_id("z", zone)}["{_label(zone)}"]')
        for b in t.brokers:
            if b.zone == zone:
                ip = b.ip or "no address yet"
                node = node_id("b", str(b.broker_id))
                lines.append(f'      {node}["broker {b.broker_id}<br/>{ip}"]')
        lines.append("    end")
    lines.append("  end")
    for c in t.consumers:
        for service in c.services:
            lines.append(f"  {node_id('c', c.principal)} --> {node_id('s', service)}")
    for lb in t.load_balancers:
        if lb.service_name:
            lines.append(f"  {node_id('s', lb.service_name)} --> {node_id('lb', lb.name)}")
        ports: dict[int, list[str]] = {}
        for x in lb.listeners:
            if x.broker_id is not None:
                ports.setdefault(x.broker_id, []).append(f"{x.scheme} {x.port}")
        for broker_id, labels in sorted(ports.items()):
            lines.append(
                f'  {node_id("lb", lb.name)} -->|"{", ".join(labels)}"| '
                f"{node_id('b', str(broker_id))}"
            )
    return "\n".join(lines) + "\n"
