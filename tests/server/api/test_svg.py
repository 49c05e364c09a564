"""The diagram of a process version drawn as SVG from its BPMN DI."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.conftest import BPMN_DIR
from tests.server.api.world import world_app
from workflows.engine import svg
from workflows.engine.errors import DiagramError

SVG = "{http://www.w3.org/2000/svg}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
LIFECYCLE = BPMN_DIR / "marche_clause_sociale.bpmn"


def _parse(text: str) -> etree._Element:
    root = etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False))
    assert root.tag == f"{SVG}svg" and root.get("viewBox")
    return root


def test_the_lifecycle_renders_one_shape_per_di_shape():
    source = LIFECYCLE.read_bytes()
    diagram = etree.fromstring(source)
    shapes = {s.get("bpmnElement") for s in diagram.iter(f"{DI}BPMNShape")}
    edges = {e.get("bpmnElement") for e in diagram.iter(f"{DI}BPMNEdge")}
    root = _parse(svg.render(source, highlight=["analyse_amont"]))
    drawn = {
        g.get("data-element-id") for g in root.iter(f"{SVG}g") if "forme" in g.get("class").split()
    }
    assert drawn == shapes
    linked = {
        g.get("data-element-id") for g in root.iter(f"{SVG}g") if "lien" in g.get("class").split()
    }
    assert linked == edges
    text = " ".join(" ".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    words = " ".join(text.split())
    bpmn = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    for task in diagram.iter(f"{bpmn}userTask"):
        assert " ".join(task.get("name").split()) in words, task.get("name")
    marked = [g for g in root.iter(f"{SVG}g") if "highlight" in (g.get("class") or "")]
    assert [g.get("data-element-id") for g in marked] == ["analyse_amont"]
    # events are circles, the end events drawn thicker; gateways diamonds; lanes rectangles
    end = root.find(f".//{SVG}g[@class='forme endEvent']/{SVG}circle")
    start = root.find(f".//{SVG}g[@class='forme startEvent']/{SVG}circle")
    assert float(end.get("stroke-width")) > float(start.get("stroke-width"))
    assert root.find(f".//{SVG}g[@class='forme exclusiveGateway']/{SVG}polygon") is not None
    assert root.find(f".//{SVG}g[@class='forme lane']/{SVG}rect") is not None
    assert root.find(f".//{SVG}g[@class='lien sequenceFlow']/{SVG}path").get("marker-end")


def test_names_are_escaped_and_no_di_is_refused():
    source = LIFECYCLE.read_text().replace(
        'name="Initialiser les paramètres"', 'name="a &lt;b&gt;"'
    )
    assert "a <b>" in " ".join(_parse(svg.render(source)).itertext())
    bare = (BPMN_DIR.parent / "tests" / "bpmn" / "engine" / "cycle.bpmn").read_bytes()
    with pytest.raises(DiagramError, match="BPMN DI"):
        svg.render(bare)


def test_endpoint_content_type_errors_and_scope(db):
    with world_app(db) as (_app, client, w):
        url = "/api/v1/definitions/marche_clause_sociale/versions/1/svg"
        for login in ("acheteur1", "facilitateur2", "admin1"):  # readable like the XML
            image = client.get(url + "?highlight=analyse_amont,inconnu", headers=w.auth(login))
            assert image.status_code == 200, image.get_data(as_text=True)
            assert image.headers["Content-Type"].startswith("image/svg+xml")
            root = _parse(image.get_data(as_text=True))
            assert "Analyser" in " ".join(root.itertext())
        assert client.get(url).status_code == 401
        missing = client.get(url.replace("/1/", "/9/"), headers=w.auth("admin1"))
        assert missing.status_code == 404
        no_di = client.get(
            "/api/v1/definitions/formulaire/versions/1/svg", headers=w.auth("admin1")
        )
        assert no_di.status_code == 422
        assert "BPMN DI" in no_di.get_json()["message"]
        xml = client.get(url.replace("/svg", "/xml"), headers=w.auth("acheteur1"))
        assert xml.status_code == 200
