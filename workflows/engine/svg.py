"""A BPMN diagram drawn as SVG from its diagram interchange (BPMN DI), server-side.

Shapes come from `bpmndi:BPMNShape` bounds, flows from `bpmndi:BPMNEdge` waypoints, both drawn
after the semantic element they name: events as circles (end events thicker, intermediate ones
doubled, timer and message markers), activities as rounded rectangles with their name wrapped,
gateways as diamonds with their marker, pools and lanes as rectangles with their name, flows as
polylines with arrow heads, and labels where the modeller put them. Only the first diagram plane
is drawn. The XML is read like any deployed diagram (no DTD, no entities, no network); text goes
through lxml, so names are always escaped. `highlight` marks elements (e.g. the current tasks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from lxml import etree

from .errors import DiagramError
from .parser import BPMN_NS, parse_xml

DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
SVG_NS = "http://www.w3.org/2000/svg"
FONT = "Arial, Helvetica, sans-serif"
CHAR_WIDTH = 6.2  # average width of a 12px character, to wrap names
STROKE = "#22242a"
HIGHLIGHT = "#1565c0"
HIGHLIGHT_FILL = "#e3f2fd"

ACTIVITIES = {
    "task",
    "userTask",
    "scriptTask",
    "serviceTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "manualTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
}
EVENTS = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
}
GATEWAYS = {
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
}
CONTAINERS = {"participant", "lane"}
TASK_MARKERS = {
    "userTask": "utilisateur",
    "scriptTask": "script",
    "serviceTask": "service",
    "businessRuleTask": "règle",
    "sendTask": "envoi",
    "receiveTask": "réception",
    "manualTask": "manuelle",
}


def _svg(tag: str, parent: etree._Element | None = None, **attrs) -> etree._Element:
    clean = {k.rstrip("_").replace("_", "-"): _fmt(v) for k, v in attrs.items() if v is not None}
    if parent is None:
        return etree.Element(f"{{{SVG_NS}}}{tag}", clean, nsmap={None: SVG_NS})
    return etree.SubElement(parent, f"{{{SVG_NS}}}{tag}", clean)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return str(value)


def _bounds(shape: etree._Element) -> tuple[float, float, float, float] | None:
    found = shape.find(f"{{{DC_NS}}}Bounds")
    if found is None:
        return None
    try:
        return tuple(float(found.get(k, "0")) for k in ("x", "y", "width", "height"))
    except ValueError:
        return None


def _label_bounds(di: etree._Element) -> tuple[float, float, float, float] | None:
    label = di.find(f"{{{DI_NS}}}BPMNLabel")
    return _bounds(label) if label is not None else None


def _waypoints(edge: etree._Element) -> list[tuple[float, float]]:
    points = []
    for point in edge.iter("{http://www.omg.org/spec/DD/20100524/DI}waypoint"):
        try:
            points.append((float(point.get("x", "0")), float(point.get("y", "0"))))
        except ValueError:
            continue
    return points


def wrap(text: str, width: float) -> list[str]:
    """Words on lines of at most `width` pixels (a word longer than a line stands alone)."""
    per_line = max(4, int(width / CHAR_WIDTH))
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _text(parent, text: str, x: float, y: float, width: float, *, middle: bool = True, **attrs):
    """Wrapped text centred on (x, y) (or starting at y when middle is False)."""
    lines = wrap(text, width)
    if not lines:
        return
    height = 14
    top = y - (len(lines) - 1) * height / 2 if middle else y
    node = _svg(
        "text",
        parent,
        x=x,
        y=top,
        font_family=FONT,
        font_size=12,
        text_anchor="middle",
        dominant_baseline="middle",
        **attrs,
    )
    for i, line in enumerate(lines):
        span = _svg("tspan", node, x=x, dy=0 if i == 0 else height)
        span.text = line


def _label(parent, di, name: str, default: tuple[float, float, float]) -> None:
    """A name at the modeller's label bounds, else at `default` (centre x, top y, width)."""
    if not name:
        return
    placed = _label_bounds(di)
    if placed is not None:
        x, y, w, h = placed
        _text(parent, name, x + w / 2, y + h / 2, max(w, 90), class_="label")
    else:
        cx, top, width = default
        _text(parent, name, cx, top + 7, width, middle=False, class_="label")


def _event(group, kind, element, x, y, w, h, marked) -> None:
    cx, cy, r = x + w / 2, y + h / 2, min(w, h) / 2
    stroke = HIGHLIGHT if marked else STROKE
    fill = HIGHLIGHT_FILL if marked else "white"
    width = {"endEvent": 4, "startEvent": 2}.get(kind, 1.5)
    dashed = (
        "4 3"
        if element.get("cancelActivity") == "false"
        or (kind == "startEvent" and element.get("isInterrupting") == "false")
        else None
    )
    _svg(
        "circle", group, cx=cx, cy=cy, r=r, fill=fill, stroke=stroke,
        stroke_width=width, stroke_dasharray=dashed,
    )  # fmt: skip
    if kind in ("intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"):
        _svg(
            "circle", group, cx=cx, cy=cy, r=r - 3, fill="none", stroke=stroke,
            stroke_width=1.5, stroke_dasharray=dashed,
        )  # fmt: skip
    definitions = {etree.QName(c).localname for c in element if isinstance(c.tag, str)}
    if "timerEventDefinition" in definitions:
        _svg("circle", group, cx=cx, cy=cy, r=r * 0.55, fill="white", stroke=stroke)
        hands = f"M{cx},{cy - r * 0.45} L{cx},{cy} L{cx + r * 0.35},{cy}"
        _svg("path", group, d=hands, fill="none", stroke=stroke, stroke_width=1.5)
    elif "messageEventDefinition" in definitions:
        ew, eh = r * 0.9, r * 0.6
        solid = kind in ("endEvent", "intermediateThrowEvent")
        _svg(
            "rect", group, x=cx - ew / 2, y=cy - eh / 2, width=ew, height=eh,
            fill=stroke if solid else "white", stroke=stroke,
        )  # fmt: skip
        fold = f"M{cx - ew / 2},{cy - eh / 2} L{cx},{cy} L{cx + ew / 2},{cy - eh / 2}"
        _svg("path", group, d=fold, fill="none", stroke="white" if solid else stroke)
    elif "terminateEventDefinition" in definitions:
        _svg("circle", group, cx=cx, cy=cy, r=r * 0.55, fill=stroke)
    elif "errorEventDefinition" in definitions or "escalationEventDefinition" in definitions:
        s = r * 0.5
        bolt = f"M{cx - s},{cy + s} L{cx - s / 3},{cy - s} L{cx + s / 3},{cy} L{cx + s},{cy - s}"
        _svg("path", group, d=bolt, fill="none", stroke=stroke, stroke_width=1.5)
    elif "signalEventDefinition" in definitions:
        s = r * 0.55
        points = f"{cx},{cy - s} {cx + s},{cy + s * 0.7} {cx - s},{cy + s * 0.7}"
        _svg("polygon", group, points=points, fill="white", stroke=stroke)


def _gateway(group, kind, x, y, w, h, marked) -> None:
    cx, cy = x + w / 2, y + h / 2
    stroke = HIGHLIGHT if marked else STROKE
    points = f"{cx},{y} {x + w},{cy} {cx},{y + h} {x},{cy}"
    _svg(
        "polygon", group, points=points, fill=HIGHLIGHT_FILL if marked else "white",
        stroke=stroke, stroke_width=2,
    )  # fmt: skip
    s = min(w, h) * 0.2
    if kind == "exclusiveGateway":
        d = f"M{cx - s},{cy - s} L{cx + s},{cy + s} M{cx + s},{cy - s} L{cx - s},{cy + s}"
        _svg("path", group, d=d, stroke=stroke, stroke_width=3, class_="marker")
    elif kind in ("parallelGateway", "complexGateway"):
        d = f"M{cx},{cy - s * 1.3} L{cx},{cy + s * 1.3} M{cx - s * 1.3},{cy} L{cx + s * 1.3},{cy}"
        if kind == "complexGateway":
            d += f" M{cx - s},{cy - s} L{cx + s},{cy + s} M{cx + s},{cy - s} L{cx - s},{cy + s}"
        _svg("path", group, d=d, stroke=stroke, stroke_width=3, class_="marker")
    elif kind == "inclusiveGateway":
        _svg(
            "circle", group, cx=cx, cy=cy, r=s * 1.2, fill="none", stroke=stroke,
            stroke_width=2.5, class_="marker",
        )  # fmt: skip
    elif kind == "eventBasedGateway":
        _svg("circle", group, cx=cx, cy=cy, r=s * 1.4, fill="none", stroke=stroke)
        _svg("circle", group, cx=cx, cy=cy, r=s * 1.1, fill="none", stroke=stroke)


def _activity(group, kind, element, x, y, w, h, marked) -> None:
    stroke = HIGHLIGHT if marked else STROKE
    _svg(
        "rect", group, x=x, y=y, width=w, height=h, rx=10, ry=10,
        fill=HIGHLIGHT_FILL if marked else "white", stroke=stroke,
        stroke_width=4 if kind == "callActivity" or marked else 2,
        stroke_dasharray="6 3" if element.get("triggeredByEvent") == "true" else None,
    )  # fmt: skip
    if kind in TASK_MARKERS:
        marker = _svg("text", group, x=x + 6, y=y + 12, font_family=FONT, font_size=9)
        marker.set("fill", "#666")
        marker.text = TASK_MARKERS[kind]
    if kind in ("subProcess", "transaction", "adHocSubProcess"):
        _text(group, element.get("name") or "", x + w / 2, y + 20, w - 10, middle=False)
    else:
        shift = 5 if kind in TASK_MARKERS else 0  # below the type marker
        _text(group, element.get("name") or "", x + w / 2, y + h / 2 + shift, w - 10)


def _container(group, kind, element, x, y, w, h) -> None:
    _svg("rect", group, x=x, y=y, width=w, height=h, fill="none", stroke=STROKE, stroke_width=1.5)
    name = element.get("name") or ""
    if kind == "participant":
        _svg("line", group, x1=x + 30, y1=y, x2=x + 30, y2=y + h, stroke=STROKE, stroke_width=1.5)
    if name:
        cx, cy = x + 15, y + h / 2
        node = _svg(
            "text", group, x=cx, y=cy, font_family=FONT, font_size=12, text_anchor="middle",
            dominant_baseline="middle", transform=f"rotate(-90 {_fmt(cx)} {_fmt(cy)})",
        )  # fmt: skip
        node.text = name


def _artifact(group, kind, element, x, y, w, h) -> None:
    if kind == "dataObjectReference":
        f = min(w, h) * 0.3
        points = f"{x},{y} {x + w - f},{y} {x + w},{y + f} {x + w},{y + h} {x},{y + h}"
        _svg("polygon", group, points=points, fill="white", stroke=STROKE)
    elif kind == "dataStoreReference":
        _svg(
            "rect", group, x=x, y=y, width=w, height=h, rx=w / 2, ry=8, fill="white", stroke=STROKE
        )
    elif kind == "textAnnotation":
        _svg("path", group, d=f"M{x + 10},{y} L{x},{y} L{x},{y + h} L{x + 10},{y + h}", fill="none",
             stroke=STROKE)  # fmt: skip
        text = element.findtext(f"{{{BPMN_NS}}}text") or ""
        _text(group, text, x + w / 2, y + h / 2, w - 8)
    elif kind == "group":
        _svg("rect", group, x=x, y=y, width=w, height=h, rx=10, fill="none", stroke=STROKE,
             stroke_dasharray="8 3 1 3")  # fmt: skip
    else:
        _svg("rect", group, x=x, y=y, width=w, height=h, fill="white", stroke=STROKE)


def _edge(group, kind, element, points, marked) -> None:
    stroke = HIGHLIGHT if marked else STROKE
    d = " ".join(
        f"{'M' if i == 0 else 'L'}{_fmt(px)},{_fmt(py)}" for i, (px, py) in enumerate(points)
    )
    attrs = {"d": d, "fill": "none", "stroke": stroke, "stroke_width": 3 if marked else 1.5}
    if kind == "sequenceFlow":
        attrs["marker_end"] = "url(#fleche)"
    elif kind == "messageFlow":
        attrs.update(stroke_dasharray="6 4", marker_end="url(#fleche-ouverte)")
    elif kind in ("association", "dataInputAssociation", "dataOutputAssociation"):
        attrs.update(stroke_dasharray="2 3")
        if kind != "association":
            attrs["marker_end"] = "url(#fleche-ouverte)"
    _svg("path", group, **attrs)


def _defs(root) -> None:
    defs = _svg("defs", root)
    for name, fill in (("fleche", STROKE), ("fleche-ouverte", "white")):
        marker = _svg(
            "marker", defs, id=name, viewBox="0 0 10 10", refX=10, refY=5, markerWidth=8,
            markerHeight=8, orient="auto-start-reverse", markerUnits="userSpaceOnUse",
        )  # fmt: skip
        _svg("path", marker, d="M0,0 L10,5 L0,10 Z", fill=fill, stroke=STROKE, stroke_width=1)


def render(
    xml: str | bytes, *, highlight: Iterable[str] = (), file_name: str = "diagramme.bpmn"
) -> str:
    """The diagram as an SVG document; DiagramError (422) when it has no BPMN DI to draw."""
    root = parse_xml(xml, file_name)
    plane = root.find(f"{{{DI_NS}}}BPMNDiagram/{{{DI_NS}}}BPMNPlane")
    shapes = [] if plane is None else plane.findall(f"{{{DI_NS}}}BPMNShape")
    if not shapes:
        raise DiagramError(
            "pas de disposition graphique (BPMN DI) à dessiner : ouvrez le diagramme dans un "
            "modeleur (bpmn-js, Camunda Modeler) et enregistrez-le",
            file_name=file_name,
        )
    edges = plane.findall(f"{{{DI_NS}}}BPMNEdge")
    elements = {
        el.get("id"): el
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id") and etree.QName(el).namespace == BPMN_NS
    }
    marked = set(highlight)

    xs: list[float] = []
    ys: list[float] = []
    for shape in shapes:
        for b in (_bounds(shape), _label_bounds(shape)):
            if b:
                xs += [b[0], b[0] + b[2]]
                ys += [b[1], b[1] + b[3]]
    for edge in edges:
        for px, py in _waypoints(edge):
            xs.append(px)
            ys.append(py)
        b = _label_bounds(edge)
        if b:
            xs += [b[0], b[0] + b[2]]
            ys += [b[1], b[1] + b[3]]
    if not xs:
        raise DiagramError("BPMN DI sans coordonnées (dc:Bounds) à dessiner", file_name=file_name)
    margin = 20
    left, top = min(xs) - margin, min(ys) - margin
    width, height = max(xs) - left + margin, max(ys) - top + margin
    svg = _svg(
        "svg",
        None,
        version="1.1",
        width=math.ceil(width),
        height=math.ceil(height),
        viewBox=f"{_fmt(left)} {_fmt(top)} {_fmt(width)} {_fmt(height)}",
    )
    _defs(svg)
    layers = {name: _svg("g", svg, class_=name) for name in ("conteneurs", "liens", "formes")}

    def by_kind(di):
        element = elements.get(di.get("bpmnElement") or "")
        kind = etree.QName(element).localname if element is not None else "inconnu"
        return element, kind

    for shape in shapes:
        element, kind = by_kind(shape)
        bounds = _bounds(shape)
        if element is None or bounds is None:
            continue
        x, y, w, h = bounds
        is_marked = element.get("id") in marked
        layer = layers["conteneurs" if kind in CONTAINERS else "formes"]
        if kind in ("subProcess", "transaction", "adHocSubProcess"):
            layer = layers["conteneurs"]
        group = _svg("g", layer, id=f"forme-{element.get('id')}", class_=f"forme {kind}")
        group.set("data-element-id", element.get("id"))
        if is_marked:
            group.set("class", f"forme {kind} highlight")
        title = _svg("title", group)
        title.text = element.get("name") or element.get("id")
        name = element.get("name") or ""
        if kind in CONTAINERS:
            _container(group, kind, element, x, y, w, h)
        elif kind in EVENTS:
            _event(group, kind, element, x, y, w, h, is_marked)
            _label(group, shape, name, (x + w / 2, y + h, 90))
        elif kind in GATEWAYS:
            _gateway(group, kind, x, y, w, h, is_marked)
            _label(group, shape, name, (x + w / 2, y + h, 90))
        elif kind in ACTIVITIES:
            _activity(group, kind, element, x, y, w, h, is_marked)
        else:
            _artifact(group, kind, element, x, y, w, h)
            if kind in ("dataObjectReference", "dataStoreReference"):
                _label(group, shape, name, (x + w / 2, y + h, 90))

    for edge in edges:
        element, kind = by_kind(edge)
        points = _waypoints(edge)
        if element is None or len(points) < 2:
            continue
        group = _svg("g", layers["liens"], id=f"lien-{element.get('id')}", class_=f"lien {kind}")
        group.set("data-element-id", element.get("id"))
        _edge(group, kind, element, points, element.get("id") in marked)
        name = element.get("name") or ""
        if name:
            mid = points[len(points) // 2 - 1]
            _label(group, edge, name, (mid[0], mid[1], 90))
    return etree.tostring(svg, encoding="unicode")
