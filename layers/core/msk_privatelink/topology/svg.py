"""A topology as a standalone SVG picture, for people who would rather look
than read: four columns (consumer accounts, endpoint services, load
balancers, brokers by Availability Zone) joined left to right. Plain SVG
text, no fonts or scripts to fetch, so it opens in any browser as is."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from msk_privatelink.topology.model import Topology, account_of

CHAR_WIDTH = 6.6  # 11 px monospace
LINE_HEIGHT = 14
PADDING = 8
GAP = 14
COLUMN_GAP = 90
TOP = 56
COLOURS = {
    "consumer": "#e8f0fe",
    "service": "#fef7e0",
    "lb": "#e6f4ea",
    "broker": "#f3e8fd",
    "zone": "#fafafa",
}


@dataclass
class Box:
    key: str
    lines: tuple[str, ...]
    kind: str
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0

    @property
    def height(self) -> float:
        return len(self.lines) * LINE_HEIGHT + 2 * PADDING

    def text_width(self) -> float:
        return max(len(line) for line in self.lines) * CHAR_WIDTH + 2 * PADDING


def _columns(t: Topology) -> list[list[Box]]:
    consumers = [
        Box(f"c:{c.principal}", (account_of(c.principal),), "consumer") for c in t.consumers
    ] or [Box("c:none", ("(none admitted)",), "consumer")]
    services = [
        Box(f"s:{lb.service_name}", (lb.service_name,), "service")
        for lb in t.load_balancers
        if lb.service_name
    ]
    balancers = []
    for lb in t.load_balancers:
        bootstrap = [f"{x.scheme} {x.port}" for x in lb.listeners if x.broker_id is None]
        lines = (f"NLB {lb.name}", *((f"bootstrap {', '.join(bootstrap)}",) if bootstrap else ()))
        balancers.append(Box(f"lb:{lb.name}", lines, "lb"))
    brokers = []
    for zone in t.zones:
        brokers.append(Box(f"z:{zone}", (zone,), "zone"))
        for b in t.brokers:
            if b.zone == zone:
                ip = b.ip or "no address yet"
                brokers.append(Box(f"b:{b.broker_id}", (f"broker {b.broker_id}", ip), "broker"))
    return [consumers, services, balancers, brokers]


def _edges(t: Topology) -> list[tuple[str, str, str]]:
    edges = [
        (f"c:{c.principal}", f"s:{service}", "") for c in t.consumers for service in c.services
    ]
    for lb in t.load_balancers:
        if lb.service_name:
            edges.append((f"s:{lb.service_name}", f"lb:{lb.name}", ""))
        ports: dict[int, list[str]] = {}
        for x in lb.listeners:
            if x.broker_id is not None:
                ports.setdefault(x.broker_id, []).append(f"{x.scheme} {x.port}")
        edges += [(f"lb:{lb.name}", f"b:{b}", ", ".join(p)) for b, p in sorted(ports.items())]
    return edges


def render_svg(t: Topology) -> str:
    columns = _columns(t)
    x = 20.0
    for column in columns:
        width = max((box.text_width() for box in column), default=120.0)
        y = float(TOP)
        for box in column:
            box.x, box.y, box.width = x, y, width
            y += box.height + GAP
        x += width + COLUMN_GAP
    boxes = {box.key: box for column in columns for box in column}
    width = x - COLUMN_GAP + 20
    height = max((b.y + b.height for b in boxes.values()), default=TOP) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="20" y="24" font-size="14" font-weight="bold">'
        f"{escape(t.cluster_name)}: {escape(t.pattern)}, {escape(t.region)}</text>",
        '<text x="20" y="42" fill="#555">consumer accounts -&gt; endpoint services -&gt; '
        "load balancers (listener ports) -&gt; brokers by Availability Zone</text>",
    ]
    for source, target, label in _edges(t):
        a, b = boxes.get(source), boxes.get(target)
        if a is None or b is None:
            continue
        x1, y1 = a.x + a.width, a.y + a.height / 2
        x2, y2 = b.x, b.y + b.height / 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
            f'{x2:.1f},{y2:.1f}" fill="none" stroke="#888"/>'
        )
        if label:
            out.append(
                f'<text x="{x2 - 4:.1f}" y="{y2 - 4:.1f}" text-anchor="end" fill="#333">'
                f"{escape(label)}</text>"
            )
    for box in boxes.values():
        out.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="4" fill="{COLOURS[box.kind]}" stroke="#666"/>'
        )
        for i, line in enumerate(box.lines):
            weight = ' font-weight="bold"' if box.kind == "zone" else ""
            out.append(
                f'<text x="{box.x + PADDING:.1f}" '
                f'y="{box.y + PADDING + (i + 1) * LINE_HEIGHT - 3:.1f}"{weight}>'
                f"{escape(line)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"
