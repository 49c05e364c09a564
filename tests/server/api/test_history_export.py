"""Audit export of an instance (GET /api/v1/instances/<id>/history, `clausier export-instance`):
everything in order, scoped like the instance, beneficiaries' personal data masked for buyers."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from sqlalchemy import select

from server.api.process_service import MASK, personal_key, redact
from server.cli import main
from tests.server.api.world import world_app
from workflows.engine.models import Event, HumanTask, Timer

NAMES = ("Karim", "Benali")


def _add_personal_events(db, world) -> None:
    """What a careless form or comment could store about the world's beneficiary."""
    with db.factory() as s:
        s.add_all(
            [
                Event(
                    instance_id=world.own.instance_id,
                    actor="facilitateur1",
                    kind="task.completed",
                    element_id="saisir",
                    data={
                        "data": {
                            "beneficiaire": {"nom": "Benali", "prenom": "Karim"},
                            "Prénom": "Karim",
                            "code_postal": "94000",
                            "nb_beneficiaires": 3,
                            "commentaire": "Embauche de karim BENALI en CDD, suivi par Mme Roy.",
                            "Karim Benali": 35,
                        }
                    },
                ),
                Event(
                    instance_id=world.own.instance_id,
                    actor='=HYPERLINK("http://x")',
                    kind="test.formula",
                    data={"texte": "-2+3"},
                ),
            ]
        )
        s.commit()


def test_history_is_complete_and_ordered_for_a_facilitator(db):
    with world_app(db) as (_app, client, world):
        fac = world.auth("facilitateur1")
        comment = client.post(
            f"/api/v1/tasks/{world.own.task_id}/comments",
            json={"text": "Karim Benali est proposé par la Mission locale."},
            headers=fac,
        )
        assert comment.status_code == 201, comment.get_json()
        _add_personal_events(db, world)
        response = client.get(f"/api/v1/instances/{world.own.instance_id}/history", headers=fac)
        assert response.status_code == 200
        body = response.get_json()
        instance = body["instance"]
        assert instance["id"] == world.own.instance_id
        assert instance["key"] == "marche_clause_sociale" and instance["version"] == 1
        assert instance["business_key"] == world.own.marche_ref
        assert instance["status"] == "running" and instance["started_at"]
        ids = [e["id"] for e in body["events"]]
        assert ids == sorted(ids) and body["events"][0]["kind"] == "instance.started"
        assert {"at", "actor", "kind", "element_id", "data"} <= set(body["events"][0])
        with db.factory() as s:
            stored = s.scalars(
                select(Event.id).where(Event.instance_id == world.own.instance_id)
            ).all()
            tasks = s.scalars(
                select(HumanTask.id).where(HumanTask.instance_id == world.own.instance_id)
            ).all()
            timers = s.scalars(
                select(Timer.id).where(Timer.instance_id == world.own.instance_id)
            ).all()
        assert ids == sorted(stored)
        assert {t["id"] for t in body["tasks"]} == set(tasks)
        assert {t["id"] for t in body["timers"]} == set(timers)
        task = next(t for t in body["tasks"] if t["id"] == world.own.task_id)
        assert task["state"] == "open" and task["created_at"] and "due_at" in task
        # a facilitator of the territory may read the beneficiary's record: nothing masked
        assert body["redaction"] == {"applied": False, "rule": None}
        assert "Benali" in response.get_data(as_text=True)
        # the export is a read: it changes nothing
        again = client.get(f"/api/v1/instances/{world.own.instance_id}/history", headers=fac)
        assert again.get_json()["events"] == body["events"]


def test_a_buyer_never_sees_beneficiaries_names(db):
    with world_app(db) as (_app, client, world):
        fac = world.auth("facilitateur1")
        client.post(
            f"/api/v1/tasks/{world.own.task_id}/comments",
            json={"text": "Karim Benali est proposé par la Mission locale."},
            headers=fac,
        )
        _add_personal_events(db, world)
        buyer = world.auth("acheteur1")
        path = f"/api/v1/instances/{world.own.instance_id}/history"
        response = client.get(path, headers=buyer)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        for name in NAMES + ("94000",):
            assert name.lower() not in text.lower(), name
        body = response.get_json()
        assert body["redaction"]["applied"] is True and "masqué" in body["redaction"]["rule"]
        masked = next(e for e in body["events"] if e["kind"] == "task.completed")["data"]["data"]
        assert masked["beneficiaire"] == MASK and masked["Prénom"] == MASK
        assert masked["nb_beneficiaires"] == 3  # a count is not personal
        assert masked["commentaire"] == f"Embauche de {MASK} en CDD, suivi par Mme Roy."
        assert masked[MASK] == 35  # a name used as a key goes too
        comment = next(e for e in body["events"] if e["kind"] == "task.comment")
        assert comment["data"]["text"] == f"{MASK} est proposé par la Mission locale."
        # the buyer's export keeps everything else
        full = client.get(path, headers=fac).get_json()
        assert [e["id"] for e in body["events"]] == [e["id"] for e in full["events"]]
        assert body["tasks"] == full["tasks"] and body["timers"] == full["timers"]
        # CSV: the same events, masked too
        exported = client.get(path + "?format=csv", headers=buyer)
        assert exported.status_code == 200
        assert exported.mimetype == "text/csv"
        assert "attachment" in exported.headers["Content-Disposition"]
        raw = exported.get_data().decode("utf-8")
        assert raw.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(raw.removeprefix("\ufeff")), delimiter=";"))
        assert rows[0] == ["id", "at", "actor", "kind", "element_id", "data"]
        assert [int(r[0]) for r in rows[1:]] == [e["id"] for e in body["events"]]
        assert "benali" not in raw.lower() and "karim" not in raw.lower()
        formula = next(r for r in rows[1:] if r[3] == "test.formula")
        assert formula[2].startswith("'=")  # never a formula in a spreadsheet
        assert json.loads(formula[5]) == {"texte": "-2+3"}
        # another buyer, or the other side's facilitator: as if absent
        for login in ("acheteur2", "facilitateur2"):
            refused = client.get(path, headers=world.auth(login))
            assert refused.status_code == 404
            assert "Benali" not in refused.get_data(as_text=True)
        bad = client.get(path + "?format=pdf", headers=buyer)
        assert bad.status_code == 422


def test_cli_export_instance(db, monkeypatch, tmp_path):
    with world_app(db) as (_app, client, world):
        _add_personal_events(db, world)
        api = client.get(
            f"/api/v1/instances/{world.own.instance_id}/history", headers=world.auth("admin1")
        ).get_json()
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSIER_DEPLOY_ON_START", "false")
    runner = CliRunner()
    result = runner.invoke(main, ["export-instance", str(world.own.instance_id)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    for key in ("instance", "events", "tasks", "timers"):
        assert printed[key] == api[key]
    assert printed["generated_for"] == "system" and "Benali" in result.stdout
    output = tmp_path / "export.json"
    result = runner.invoke(
        main,
        [
            "export-instance",
            str(world.own.instance_id),
            "--as-user",
            "acheteur1",
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    as_buyer = json.loads(output.read_text(encoding="utf-8"))
    assert as_buyer["redaction"]["applied"] is True
    assert "benali" not in output.read_text(encoding="utf-8").lower()
    refused = runner.invoke(
        main, ["export-instance", str(world.foreign.instance_id), "--as-user", "acheteur1"]
    )
    assert refused.exit_code == 1 and "introuvable" in refused.output
    assert "Traceback" not in refused.output


def test_redaction_rule():
    assert personal_key("nom", "x") and personal_key("Code postal", "94000")
    assert personal_key("beneficiaires", ["a"]) and not personal_key("nb_beneficiaires", 2)
    assert not personal_key("beneficiaires", 4) and not personal_key("objet", "voirie")
    data = {"liste": [{"prescripteur": "Mission locale"}, "rien"], "n": 1}
    assert redact(data, None) == {"liste": [{"prescripteur": MASK}, "rien"], "n": 1}
