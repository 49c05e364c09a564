"""The /engine-rest subset, called exactly as a Camunda 7 client calls it."""

from __future__ import annotations

from tests.conftest import SCENARIOS
from tests.server.api.world import PASSWORD, world_app

FORM = {
    "objet": {"value": "Entretien des espaces verts", "type": "String"},
    "montant": {"value": 250000.0, "type": "Double"},
    "duree_mois": {"value": 12, "type": "Integer"},
    "accord_cadre": {"value": False, "type": "Boolean"},
    "date_debut": {"value": "2027-03-01T00:00:00.000+0100", "type": "Date"},
    "nature": {"value": "services", "type": "String"},
}


def _camunda_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"type", "message"} and body["message"]
    return body


def test_deploy_start_query_claim_and_complete(db):
    with world_app(db) as (_app, client, w):
        admin = w.basic("admin1", PASSWORD)
        source = (SCENARIOS / "engine" / "formulaire.bpmn").read_bytes()
        deployed = client.post(
            "/engine-rest/deployment/create",
            data={
                "deployment-name": "formulaire",
                "enable-duplicate-filtering": "true",
                "data": (
                    __import__("io").BytesIO(source.replace(b"REF-1", b"REF-2")),
                    "formulaire.bpmn",
                ),
            },
            headers=admin,
            content_type="multipart/form-data",
        )
        assert deployed.status_code == 200, deployed.get_data(as_text=True)
        body = deployed.get_json()
        assert body["name"] == "formulaire"
        [(definition_id, definition)] = body["deployedProcessDefinitions"].items()
        assert definition["key"] == "formulaire" and definition["version"] == 2
        assert definition_id.startswith("formulaire:2:")
        listed = client.get(
            "/engine-rest/process-definition?latestVersion=true&key=formulaire", headers=admin
        )
        assert [d["version"] for d in listed.get_json()] == [2]

        fac = w.basic("facilitateur1")  # token as password
        by_id = client.get(f"/engine-rest/process-definition/{definition_id}", headers=fac)
        assert by_id.get_json()["key"] == "formulaire"
        first = client.post(
            "/engine-rest/process-definition/formulaire:1:0/start",
            json={"businessKey": "T1/v1"},
            headers=fac,
        )
        assert first.status_code == 200 and first.get_json()["definitionId"].startswith(
            "formulaire:1:"
        )
        _camunda_error(client.get("/engine-rest/process-definition/formulaire:x", headers=fac), 404)
        _camunda_error(
            client.post(
                "/engine-rest/process-definition/key/formulaire/start",
                json={"businessKey": 12},
                headers=fac,
            ),
            400,
        )
        started = client.post(
            "/engine-rest/process-definition/key/formulaire/start",
            json={
                "variables": {"reference": {"value": "REF-9", "type": "String"}},
                "businessKey": "T1",
            },
            headers=fac,
        )
        assert started.status_code == 200, started.get_data(as_text=True)
        instance = started.get_json()
        assert instance["businessKey"] == "T1" and instance["ended"] is False
        pid = instance["id"]

        tasks = client.get(f"/engine-rest/task?processInstanceId={pid}", headers=fac).get_json()
        assert len(tasks) == 1
        task = tasks[0]
        assert task["taskDefinitionKey"] == "saisir" and task["processInstanceId"] == pid
        assert task["processDefinitionId"] == definition_id
        assert task["created"].endswith("+0000")
        query = client.post(
            "/engine-rest/task",
            json={"processDefinitionKey": "formulaire", "candidateGroup": "coordinateur"},
            headers=fac,
        )
        assert pid in {t["processInstanceId"] for t in query.get_json()}
        count = client.get(f"/engine-rest/task/count?processInstanceId={pid}", headers=fac)
        assert count.get_json() == {"count": 1}

        coord = w.basic("coordinateur1")
        tid = task["id"]
        # the task is assigned to "bob" by the diagram: claim is refused, Camunda style
        _camunda_error(
            client.post(
                f"/engine-rest/task/{tid}/claim", json={"userId": "coordinateur1"}, headers=coord
            ),
            500,
        )
        assert (
            client.post(
                f"/engine-rest/task/{tid}/assignee", json={"userId": None}, headers=coord
            ).status_code
            == 204
        )
        assert (
            client.post(
                f"/engine-rest/task/{tid}/claim", json={"userId": "coordinateur1"}, headers=coord
            ).status_code
            == 204
        )
        assert (
            client.get(f"/engine-rest/task/{tid}", headers=coord).get_json()["assignee"]
            == "coordinateur1"
        )
        assert (
            client.get("/engine-rest/task?assignee=coordinateur1", headers=coord).get_json()[0][
                "id"
            ]
            == tid
        )
        variables = client.get(f"/engine-rest/task/{tid}/form-variables", headers=coord).get_json()
        assert variables["reference"] == {"type": "String", "value": "REF-9", "valueInfo": {}}
        assert variables["duree_mois"]["type"] == "Long"

        bad = client.post(
            f"/engine-rest/task/{tid}/complete",
            json={"variables": {"duree_mois": {"value": "douze", "type": "Integer"}}},
            headers=coord,
        )
        _camunda_error(bad, 400)
        unsupported = client.post(
            f"/engine-rest/task/{tid}/complete",
            json={"variables": {"x": {"value": 1, "type": "Bytes"}}},
            headers=coord,
        )
        assert "Unsupported value type" in _camunda_error(unsupported, 400)["message"]
        done = client.post(
            f"/engine-rest/task/{tid}/complete", json={"variables": FORM}, headers=coord
        )
        assert done.status_code == 204, done.get_data(as_text=True)
        assert done.data == b""
        values = client.get(
            f"/engine-rest/process-instance/{pid}/variables", headers=coord
        ).get_json()
        assert values["duree_mois"] == {"type": "Integer", "value": 12, "valueInfo": {}}
        _camunda_error(
            client.post(f"/engine-rest/task/{tid}/complete", json={}, headers=coord), 500
        )


def test_process_instances_errors_and_message(db):
    with world_app(db) as (_app, client, w):
        fac = w.basic("facilitateur1")
        listed = client.get(
            "/engine-rest/process-instance?processDefinitionKey=formulaire", headers=fac
        )
        assert [i["id"] for i in listed.get_json()] == [str(w.own.committee_id)]
        got = client.get(
            f"/engine-rest/process-instance/{w.own.instance_id}", headers=fac
        ).get_json()
        assert got["businessKey"] == w.own.marche_ref and got["definitionId"].startswith(
            "marche_clause_sociale:"
        )
        _camunda_error(
            client.get(f"/engine-rest/process-instance/{w.foreign.instance_id}", headers=fac), 404
        )
        _camunda_error(client.get("/engine-rest/process-instance/abc", headers=fac), 404)
        _camunda_error(client.get("/engine-rest/task/inexistante", headers=fac), 404)
        _camunda_error(client.get("/engine-rest/process-definition/key/inconnu", headers=fac), 404)
        _camunda_error(
            client.post("/engine-rest/process-definition/key/inconnu/start", json={}, headers=fac),
            404,
        )
        _camunda_error(
            client.post(
                "/engine-rest/process-definition/key/formulaire/start",
                data="[1]",
                content_type="application/json",
                headers=fac,
            ),
            400,
        )
        deleted = client.delete(f"/engine-rest/process-instance/{w.own.committee_id}", headers=fac)
        assert deleted.status_code == 204
        _camunda_error(
            client.delete(f"/engine-rest/process-instance/{w.own.committee_id}", headers=fac), 500
        )
        message = client.post(
            "/engine-rest/message",
            json={"messageName": "relance", "businessKey": "M-1"},
            headers=fac,
        )
        assert "Cannot correlate message 'relance'" in _camunda_error(message, 400)["message"]
        _camunda_error(client.post("/engine-rest/message", json={}, headers=fac), 400)


def test_basic_authentication(db):
    with world_app(db) as (_app, client, w):
        anonymous = client.get("/engine-rest/task")
        assert _camunda_error(anonymous, 401)["type"] == "AuthenticationException"
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
        _camunda_error(
            client.get("/engine-rest/task", headers=w.basic("acheteur1", "mauvais")), 401
        )
        assert (
            client.get("/engine-rest/task", headers=w.basic("acheteur1", PASSWORD)).status_code
            == 200
        )
        # another account's token is not a password
        _camunda_error(
            client.get("/engine-rest/task", headers=w.basic("acheteur1", w.tokens["admin1"])), 401
        )
        _camunda_error(
            client.post("/engine-rest/deployment/create", data={}, headers=w.basic("acheteur1")),
            403,
        )
        empty = client.post("/engine-rest/deployment/create", data={}, headers=w.basic("admin1"))
        assert _camunda_error(empty, 400)["type"] == "ParseException"
