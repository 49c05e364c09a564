"""POST /engine-rest/message and POST /api/v1/messages: real correlation, called as a client would.

Diagrams: tests/bpmn/engine/message_attente.bpmn (receive task, intermediate message catch
event, message boundary event on a user task) and message_depart.bpmn (message start event).
"""

from __future__ import annotations

import io

from sqlalchemy import select

from tests.conftest import SCENARIOS
from tests.server.api.world import world_app
from workflows.engine.models import Event, HumanTask, Instance


def _error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"type", "message"} and body["message"]
    return body


def _deploy(client, headers):
    files = {
        name: (io.BytesIO((SCENARIOS / "engine" / name).read_bytes()), name)
        for name in ("message_attente.bpmn", "message_depart.bpmn")
    }
    deployed = client.post(
        "/engine-rest/deployment/create",
        data={"deployment-name": "messages", **{k: v for k, v in files.items()}},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert deployed.status_code == 200, deployed.get_data(as_text=True)
    keys = {d["key"] for d in deployed.get_json()["deployedProcessDefinitions"].values()}
    assert keys == {"attente_message", "depart_message"}


def _start(client, headers, business_key, **variables):
    started = client.post(
        "/engine-rest/process-definition/key/attente_message/start",
        json={
            "businessKey": business_key,
            "variables": {k: {"value": v, "type": "String"} for k, v in variables.items()},
        },
        headers=headers,
    )
    assert started.status_code == 200, started.get_data(as_text=True)
    return started.get_json()["id"]


def _message(client, headers, **body):
    return client.post("/engine-rest/message", json=body, headers=headers)


def _variables(client, headers, pid):
    return client.get(f"/engine-rest/process-instance/{pid}/variables", headers=headers).get_json()


def test_correlation_to_waiting_instances(db):
    with world_app(db) as (_app, client, w):
        fac, fac2 = w.basic("facilitateur1"), w.basic("facilitateur2")
        _deploy(client, w.basic("admin1"))
        a = _start(client, fac, "T1/a", dossier="a")
        b = _start(client, fac, "T1/b", dossier="b")
        foreign = _start(client, fac2, "T2/x", dossier="x")

        # two visible instances wait for it (the foreign one is not counted): ambiguous
        ambiguous = _error(_message(client, fac, messageName="convention_signee"), 400)
        assert ambiguous["type"] == "InvalidRequestException"
        assert "to a single execution. 2 executions" in ambiguous["message"]

        # by business key, with variables → 204, the receive task is passed
        done = _message(
            client,
            fac,
            messageName="convention_signee",
            businessKey="T1/a",
            processVariables={"signataire": {"value": "Mme Roux", "type": "String"}},
        )
        assert done.status_code == 204, done.get_data(as_text=True)
        assert done.data == b""
        assert _variables(client, fac, a)["signataire"]["value"] == "Mme Roux"

        # correlation keys are matched against the instance's variables
        wrong = _message(
            client,
            fac,
            messageName="convention_signee",
            correlationKeys={"dossier": {"value": "zz", "type": "String"}},
        )
        assert "No process definition or execution matches" in _error(wrong, 400)["message"]
        by_key = _message(
            client,
            fac,
            messageName="convention_signee",
            correlationKeys={"dossier": {"value": "b", "type": "String"}},
            resultEnabled=True,
            variablesInResultEnabled=True,
        )
        assert by_key.status_code == 200, by_key.get_data(as_text=True)
        [result] = by_key.get_json()
        assert result["resultType"] == "Execution" and result["processInstance"] is None
        assert result["execution"]["processInstanceId"] == b
        assert result["variables"]["dossier"]["value"] == "b"

        # the foreign instance is out of reach: no match, and it still waits
        hidden = _message(client, fac, messageName="convention_signee", businessKey="T2/x")
        _error(hidden, 400)
        # intermediate catch event, by instance id, for both at once with `all`
        for pid in (a, b):
            assert _message(
                client, fac, messageName="pieces_recues", processInstanceId=pid
            ).status_code == (204)
        with db.factory() as s:
            open_tasks = s.scalars(
                select(HumanTask.instance_id).where(
                    HumanTask.element_id == "verifier", HumanTask.state == "open"
                )
            ).all()
            assert sorted(map(str, open_tasks)) == sorted([a, b])
        # the boundary event on the user task interrupts it; the instance ends
        retired = _message(
            client, fac, messageName="dossier_retire", all=True, resultEnabled=True
        ).get_json()
        assert sorted(r["execution"]["processInstanceId"] for r in retired) == sorted([a, b])
        for pid in (a, b):
            ended = client.get(f"/engine-rest/process-instance/{pid}", headers=fac)
            assert ended.status_code == 200 and ended.get_json()["ended"] is True
        # the foreign side correlates its own instance
        assert (
            _message(client, fac2, messageName="convention_signee", businessKey="T2/x").status_code
            == 204
        )
        with db.factory() as s:
            events = s.scalars(
                select(Event).where(Event.kind == "message.correlated").order_by(Event.id)
            ).all()
            assert [e.data["message"] for e in events if str(e.instance_id) == a] == [
                "convention_signee",
                "pieces_recues",
                "dossier_retire",
            ]
            assert {e.actor for e in events} == {"facilitateur1", "facilitateur2"}
            assert s.get(Instance, int(foreign)).status == "running"
            assert s.get(Instance, int(a)).status == "completed"


def test_message_start_event_and_refusals(db):
    with world_app(db) as (_app, client, w):
        fac = w.basic("facilitateur1")
        _deploy(client, w.basic("admin1"))
        started = _message(
            client,
            fac,
            messageName="demande_recue",
            businessKey="T1/demande-1",
            processVariables={"demandeur": {"value": "Ville 1", "type": "String"}},
            resultEnabled=True,
        )
        assert started.status_code == 200, started.get_data(as_text=True)
        [result] = started.get_json()
        assert result["resultType"] == "ProcessDefinition" and result["execution"] is None
        instance = result["processInstance"]
        assert instance["businessKey"] == "T1/demande-1"
        assert instance["definitionId"].startswith("depart_message:1:")
        tasks = client.get(
            f"/engine-rest/task?processInstanceId={instance['id']}", headers=fac
        ).get_json()
        assert [t["taskDefinitionKey"] for t in tasks] == ["instruire"]
        assert _variables(client, fac, instance["id"])["demandeur"]["value"] == "Ville 1"
        # outside one's territories: refused like a plain start
        _error(_message(client, fac, messageName="demande_recue", businessKey="T2/z"), 403)
        # buyers do not send messages
        denied = _message(client, w.basic("acheteur1"), messageName="demande_recue")
        assert _error(denied, 403)["type"] == "AuthorizationException"
        # a process instance id restricts to executions: no start then
        _error(
            _message(client, fac, messageName="demande_recue", processInstanceId=instance["id"]),
            400,
        )
        _error(_message(client, fac, messageName="inconnu"), 400)
        _error(_message(client, fac, businessKey="T1"), 400)
        _error(_message(client, fac, messageName="demande_recue", processInstanceId="x"), 400)
        _error(
            _message(
                client,
                fac,
                messageName="demande_recue",
                processVariables={"x": {"value": "y", "type": "Bytes"}},
            ),
            400,
        )


def test_api_v1_messages(db):
    with world_app(db) as (_app, client, w):
        fac = w.auth("facilitateur1")
        _deploy(client, w.basic("admin1"))
        pid = _start(client, w.basic("facilitateur1"), "T1/v1")
        _start(client, w.basic("facilitateur1"), "T1/v2")
        ambiguous = client.post(
            "/api/v1/messages", json={"message_name": "convention_signee"}, headers=fac
        )
        assert ambiguous.status_code == 409 and "2 instances" in ambiguous.get_json()["message"]
        sent = client.post(
            "/api/v1/messages",
            json={
                "message_name": "convention_signee",
                "instance_id": int(pid),
                "variables": {"signataire": "M. Blanc"},
            },
            headers=fac,
        )
        assert sent.status_code == 200, sent.get_data(as_text=True)
        [result] = sent.get_json()
        assert result["started"] is False and result["elements"] == ["attendre_signature"]
        assert result["instance"]["id"] == int(pid) and result["instance"]["lock_version"] == 2
        missing = client.post("/api/v1/messages", json={"message_name": "inconnu"}, headers=fac)
        assert missing.status_code == 404 and "inconnu" in missing.get_json()["message"]
        invalid = client.post("/api/v1/messages", json={"variables": {}}, headers=fac)
        assert invalid.status_code == 422 and "message_name" in str(invalid.get_json()["errors"])
        started = client.post(
            "/api/v1/messages",
            json={"message_name": "demande_recue", "business_key": "T1/v3"},
            headers=fac,
        )
        assert started.status_code == 200 and started.get_json()[0]["started"] is True
        buyer = client.post(
            "/api/v1/messages", json={"message_name": "demande_recue"}, headers=w.auth("acheteur1")
        )
        assert buyer.status_code == 403
