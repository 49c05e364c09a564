"""The /api/v1 endpoints through the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

from tests.conftest import SCENARIOS
from tests.server.api.world import world_app

ANALYSE = {
    "objet": "Réhabilitation du groupe scolaire",
    "montant_estime_ht": 1_000_000,
    "duree_mois": 3,
    "nature": "travaux",
    "code_cpv": "45214200",
}


def test_definitions_xml_svg_and_deployment(db):
    with world_app(db) as (_app, client, w):
        admin, buyer = w.auth("admin1"), w.auth("acheteur1")
        keys = {d["key"] for d in client.get("/api/v1/definitions", headers=buyer).get_json()}
        assert {"marche_clause_sociale", "formulaire"} <= keys
        xml = client.get("/api/v1/definitions/formulaire/versions/1/xml", headers=buyer)
        assert xml.status_code == 200 and xml.mimetype == "application/xml"
        assert b'id="formulaire"' in xml.data
        assert client.get("/api/v1/definitions/formulaire/versions/1/svg").status_code == 401
        no_layout = client.get("/api/v1/definitions/formulaire/versions/1/svg", headers=buyer)
        assert no_layout.status_code == 422  # this test diagram has no DI to draw from
        source = (SCENARIOS / "engine" / "formulaire.bpmn").read_bytes()
        changed = source.replace(b'label="Objet"', b'label="Objet du marche"')
        upload = {"files": (io.BytesIO(changed), "formulaire.bpmn")}
        refused = client.post("/api/v1/definitions", data=upload, headers=buyer)
        assert refused.status_code == 403
        upload = {"files": (io.BytesIO(changed), "formulaire.bpmn")}
        done = client.post("/api/v1/definitions", data=upload, headers=admin)
        assert done.status_code == 201, done.get_json()
        assert done.get_json() == [
            {"kind": "process", "key": "formulaire", "version": 2, "created": True}
        ]
        versions = client.get("/api/v1/definitions/formulaire", headers=admin).get_json()
        assert [v["version"] for v in versions] == [2, 1]
        script = (SCENARIOS / "engine" / "erreur.bpmn").read_bytes()
        broken = script.replace(b"ratio = total / diviseur", b"import os")
        bad = client.post(
            "/api/v1/definitions",
            data={"files": (io.BytesIO(broken), "casse.bpmn")},
            headers=admin,
        )
        assert bad.status_code == 422
        assert bad.get_json()["errors"]["file"] == "casse.bpmn"
        assert bad.get_json()["errors"]["element"]


def test_instance_lifecycle_etag_and_actions(db):
    with world_app(db) as (_app, client, w):
        fac = w.auth("facilitateur1")
        started = client.post(
            "/api/v1/instances",
            json={"key": "formulaire", "business_key": "T1/atelier", "variables": {"a": 1}},
            headers=fac,
        )
        assert started.status_code == 201, started.get_json()
        body = started.get_json()
        iid, etag = body["id"], started.headers["ETag"]
        assert body["tasks"][0]["element_id"] == "saisir" and etag == '"1"'
        assert client.get(f"/api/v1/instances/{iid}/variables", headers=fac).get_json()["a"] == 1
        stale = client.post(
            f"/api/v1/instances/{iid}/suspend", json={}, headers={**fac, "If-Match": '"7"'}
        )
        assert stale.status_code == 412 and stale.get_json()["code"] == 412
        suspended = client.post(
            f"/api/v1/instances/{iid}/suspend", json={}, headers={**fac, "If-Match": etag}
        )
        assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
        again = client.post(f"/api/v1/instances/{iid}/suspend", json={}, headers=fac)
        assert again.status_code == 409
        client.post(f"/api/v1/instances/{iid}/resume", json={}, headers=fac)
        refused = client.post(f"/api/v1/instances/{iid}/migrate", json={}, headers=fac)
        assert refused.status_code == 409
        cancelled = client.post(
            f"/api/v1/instances/{iid}/cancel", json={"reason": "doublon"}, headers=fac
        )
        assert cancelled.get_json()["status"] == "cancelled"
        kinds = [
            e["kind"]
            for e in client.get(f"/api/v1/instances/{iid}/history", headers=fac).get_json()[
                "events"
            ]
        ]
        assert kinds[0] == "instance.started" and kinds[-1] == "instance.cancelled"
        assert "instance.suspended" in kinds and "instance.resumed" in kinds
        buyer = client.post(
            "/api/v1/instances", json={"key": "formulaire"}, headers=w.auth("acheteur1")
        )
        assert buyer.status_code == 403
        listed = client.get("/api/v1/instances?status=cancelled", headers=fac)
        assert [i["id"] for i in listed.get_json()] == [iid]
        assert int(listed.headers["X-Total-Count"]) == 1


def test_retry_an_errored_instance(db):
    with world_app(db) as (app, client, w):
        admin = w.auth("admin1")
        files = {
            "files": (
                io.BytesIO((SCENARIOS / "engine" / "erreur.bpmn").read_bytes()),
                "erreur.bpmn",
            )
        }
        assert client.post("/api/v1/definitions", data=files, headers=admin).status_code == 201
        started = client.post(
            "/api/v1/instances",
            json={"key": "erreur", "variables": {"total": 10, "diviseur": 0}},
            headers=admin,
        ).get_json()
        assert started["status"] == "error" and started["error_element"]
        fixed = client.post(
            f"/api/v1/instances/{started['id']}/retry",
            json={"variables": {"diviseur": 2}},
            headers=admin,
        )
        assert fixed.status_code == 200 and fixed.get_json()["status"] == "running"


def test_inbox_filters_sort_and_pagination(db):
    with world_app(db) as (_app, client, w):
        fac, buyer = w.auth("facilitateur1"), w.auth("acheteur1")
        mine = client.get("/api/v1/tasks?my_groups=true", headers=buyer).get_json()
        assert [t["id"] for t in mine] == [w.own.task_id]
        offered = client.get("/api/v1/tasks?candidate_group=acheteur", headers=fac).get_json()
        assert {t["id"] for t in offered} == {w.own.task_id, w.own.committee_task_id}
        by_marche = client.get(f"/api/v1/tasks?marche={w.own.marche_ref}", headers=fac)
        assert [t["id"] for t in by_marche.get_json()] == [w.own.task_id]
        assert (
            client.get("/api/v1/tasks?process=formulaire", headers=fac).get_json()[0]["process_key"]
            == "formulaire"
        )
        first = client.get("/api/v1/tasks?page_size=1&sort=created&desc=true", headers=fac)
        assert len(first.get_json()) == 1
        assert int(first.headers["X-Total-Count"]) == 2
        assert (
            client.get("/api/v1/tasks?due_before=2000-01-01T00:00:00Z", headers=fac).get_json()
            == []
        )
        assert (
            len(client.get("/api/v1/tasks?due_after=2000-01-01T00:00:00Z", headers=fac).get_json())
            == 2
        )
        assert client.get("/api/v1/tasks?overdue=true", headers=fac).get_json() == []
        assert client.get("/api/v1/tasks?mine=true", headers=fac).get_json() == []
        bad = client.get("/api/v1/tasks?sort=nimportequoi&page_size=0", headers=fac)
        assert bad.status_code == 422
        assert bad.get_json()["errors"]["sort"][0].startswith("Valeurs possibles")


def test_claim_delegate_resolve_comment_and_complete(db):
    with world_app(db) as (_app, client, w):
        buyer, coord = w.auth("acheteur1"), w.auth("coordinateur1")
        task = f"/api/v1/tasks/{w.own.task_id}"
        assert client.post(f"{task}/claim", headers=w.auth("facilitateur1")).status_code == 403
        claimed = client.post(f"{task}/claim", headers=buyer)
        assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "acheteur1"
        assert (
            client.get("/api/v1/tasks?mine=true", headers=buyer).get_json()[0]["id"]
            == w.own.task_id
        )
        assert client.post(f"{task}/resolve", headers=buyer).status_code == 409
        delegated = client.post(
            f"{task}/delegate", json={"user_id": "coordinateur1"}, headers=buyer
        )
        assert delegated.get_json()["assignee"] == "coordinateur1"
        assert (
            client.post(f"{task}/delegate", json={"user_id": "fantome"}, headers=coord).status_code
            == 422
        )
        resolved = client.post(f"{task}/resolve", headers=coord)
        assert resolved.get_json()["assignee"] == "acheteur1"
        freed = client.post(f"{task}/assign", json={"user_id": None}, headers=coord)
        assert freed.get_json()["assignee"] is None
        client.post(f"{task}/claim", headers=buyer)
        assert client.post(f"{task}/unclaim", headers=buyer).get_json()["assignee"] is None
        assert (
            client.post(
                f"{task}/comments", json={"text": "Voir le CCAP"}, headers=buyer
            ).status_code
            == 201
        )
        assert [c["text"] for c in client.get(f"{task}/comments", headers=coord).get_json()] == [
            "Voir le CCAP"
        ]
        invalid = client.post(f"{task}/complete", json={"data": {"duree_mois": "x"}}, headers=buyer)
        assert invalid.status_code == 422 and "duree_mois" in invalid.get_json()["errors"]
        etag = client.get(task, headers=buyer).headers["ETag"]
        stale = client.post(
            f"{task}/complete", json={"data": ANALYSE}, headers={**buyer, "If-Match": '"99"'}
        )
        assert stale.status_code == 412
        done = client.post(
            f"{task}/complete", json={"data": ANALYSE}, headers={**buyer, "If-Match": etag}
        )
        assert done.status_code == 200, done.get_json()
        assert done.headers["ETag"] != etag
        assert [t["element_id"] for t in done.get_json()["tasks"]] == ["choisir_disposition"]
        assert (
            client.post(f"{task}/complete", json={"data": ANALYSE}, headers=buyer).status_code
            == 409
        )


def test_marches_clauses_calibration_and_people(db):
    with world_app(db) as (_app, client, w):
        buyer, fac, admin = w.auth("acheteur1"), w.auth("facilitateur1"), w.auth("admin1")
        created = client.post(
            "/api/v1/marches",
            json={
                "reference": "M-NEUF",
                "subject": "Nettoyage des écoles",
                "buyer_id": w.own.buyer_id,
                "territory_id": w.own.territory_id,
                "nature": "services",
                "cpv_code": "90910000",
                "estimated_amount_ht": "400000",
                "duration_months": 24,
            },
            headers=buyer,
        )
        assert created.status_code == 201, created.get_json()
        marche = created.get_json()
        assert marche["instance_id"] and marche["estimated_amount_ht"] == "400000.00"
        foreign = client.post(
            "/api/v1/marches",
            json={
                **{k: marche[k] for k in ("subject", "nature", "cpv_code", "duration_months")},
                "reference": "M-X",
                "buyer_id": w.foreign.buyer_id,
                "territory_id": w.own.territory_id,
                "estimated_amount_ht": "1",
            },
            headers=buyer,
        )
        assert foreign.status_code == 403
        refs = {m["reference"] for m in client.get("/api/v1/marches", headers=buyer).get_json()}
        assert refs == {"M-1", "M-NEUF"}
        mid = marche["id"]
        assert (
            client.post(f"/api/v1/marches/{mid}/calibration", json={}, headers=buyer).status_code
            == 403
        )
        clause = client.post(f"/api/v1/marches/{mid}/calibration", json={}, headers=fac)
        assert clause.status_code == 200, clause.get_json()
        cid = clause.get_json()["id"]
        assert float(clause.get_json()["hours_target"]) > 0
        override = client.post(
            f"/api/v1/clauses/{cid}/override",
            json={"hours": "500", "justification": "public disponible"},
            headers=fac,
        )
        assert override.get_json()["hours_target"] == "500.00"
        valid = client.post(
            f"/api/v1/clauses/{cid}/validation", json={"validated": True}, headers=buyer
        )
        assert valid.get_json()["validated_by"] == "acheteur1"
        assert [
            c["id"] for c in client.get(f"/api/v1/marches/{mid}/clauses", headers=buyer).get_json()
        ] == [cid]
        assert client.get(f"/api/v1/marches/{mid}/progress", headers=fac).status_code == 200
        assert client.get(f"/api/v1/marches/{mid}/hours", headers=fac).get_json() == []
        # beneficiaries: facilitators only
        assert client.get("/api/v1/beneficiaries", headers=buyer).get_json() == []
        person = client.post(
            "/api/v1/beneficiaries",
            json={"territory_id": w.own.territory_id, "first_name": "Ana", "last_name": "Lopes"},
            headers=fac,
        )
        assert person.status_code == 201
        assert (
            client.post(
                "/api/v1/beneficiaries",
                json={"territory_id": w.own.territory_id, "first_name": "A", "last_name": "B"},
                headers=buyer,
            ).status_code
            == 403
        )
        assert len(client.get("/api/v1/beneficiaries", headers=fac).get_json()) == 2
        # users, organisations, territories
        assert (
            client.get("/api/v1/users/me", headers=buyer).get_json()["organisation_id"]
            == w.own.buyer_id
        )
        assert client.get("/api/v1/users", headers=buyer).status_code == 403
        assert len(client.get("/api/v1/users", headers=admin).get_json()) == 8
        assert (
            client.post(
                "/api/v1/territories", json={"code": "T3", "name": "Trois"}, headers=fac
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/api/v1/territories", json={"code": "T3", "name": "Trois"}, headers=admin
            ).status_code
            == 201
        )
        assert len(client.get("/api/v1/territories", headers=buyer).get_json()) == 3
        org = client.post(
            "/api/v1/organisations", json={"kind": "acheteur", "name": "Ville 3"}, headers=admin
        )
        assert org.status_code == 201
        assert (
            client.get(f"/api/v1/organisations/{org.get_json()['id']}", headers=buyer).status_code
            == 200
        )


def test_errors_are_json_in_french_or_english(db):
    with world_app(db) as (_app, client, w):
        fac = w.auth("facilitateur1")
        missing = client.post("/api/v1/instances", json={}, headers=fac)
        assert missing.status_code == 422
        assert missing.get_json() == {
            "code": 422,
            "status": "Unprocessable Entity",
            "message": "Données invalides.",
            "errors": {"key": ["Champ obligatoire manquant."]},
        }
        english = client.post(
            "/api/v1/instances", json={}, headers={**fac, "Accept-Language": "en"}
        )
        assert english.get_json()["errors"] == {"key": ["Missing data for required field."]}
        assert english.get_json()["message"] == "Unprocessable Entity"
        unknown = client.get("/api/v1/nulle-part", headers=fac)
        assert unknown.status_code == 404 and unknown.get_json()["message"] == "Introuvable."
        absent = client.get("/api/v1/instances/999999", headers=fac)
        assert absent.get_json()["message"] == "instance 999999 introuvable"
        anonymous = client.get("/api/v1/tasks")
        assert anonymous.status_code == 401 and anonymous.get_json()["code"] == 401
        assert (
            client.get("/api/v1/tasks", headers={"Authorization": "Bearer clz_faux"}).status_code
            == 401
        )


def test_openapi_document_and_page(db):
    with world_app(db) as (_app, client, _w):
        doc = client.get("/api/v1/openapi.json").get_json()
        assert (
            doc["openapi"].startswith("3.") and "/api/v1/tasks/{task_id}/complete" in doc["paths"]
        )
        page = client.get("/api/v1/docs")
        assert page.status_code == 200 and "openapi.json" in page.get_data(as_text=True)


def test_reports_notifications_and_malformed_json(db):
    with world_app(db) as (_app, client, w):
        buyer, fac = w.auth("acheteur1"), w.auth("facilitateur1")
        bilan = client.get(f"/api/v1/marches/{w.own.marche_id}/bilan", headers=buyer)
        assert bilan.status_code == 200 and bilan.get_json()["reference"] == "M-1"
        indicators = client.get(
            "/api/v1/indicators?period_start=2026-01-01&period_end=2027-12-31"
            f"&territory_id={w.own.territory_id}",
            headers=fac,
        )
        assert indicators.status_code == 200
        assert client.get("/api/v1/notifications", headers=buyer).get_json() == []
        assert client.post("/api/v1/notifications/read", headers=buyer).status_code == 204
        broken = client.post(
            "/api/v1/instances", data="{pas du json", content_type="application/json", headers=fac
        )
        assert broken.status_code == 400 and broken.get_json()["code"] == 400
