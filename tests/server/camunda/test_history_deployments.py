"""GET /engine-rest/deployment…, process-definition XML and history, as a Camunda client calls."""

from __future__ import annotations

from sqlalchemy import select

from tests.server.api.world import world_app
from workflows.engine.models import HumanTask, ProcessDefinition


def _error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"type", "message"} and body["message"]
    return body


def test_deployments_and_definition_xml(db):
    with world_app(db) as (_app, client, w):
        fac = w.basic("facilitateur1")
        listed = client.get("/engine-rest/deployment", headers=fac)
        assert listed.status_code == 200
        deployments = listed.get_json()
        names = [d["name"] for d in deployments]
        assert "marche_clause_sociale.bpmn" in names and "formulaire.bpmn" in names
        assert {"id", "name", "source", "deploymentTime", "tenantId", "links"} <= set(
            deployments[0]
        )
        count = client.get("/engine-rest/deployment/count", headers=fac).get_json()["count"]
        assert count == len(deployments)
        by_name = client.get("/engine-rest/deployment?name=formulaire.bpmn", headers=fac).get_json()
        assert [d["name"] for d in by_name] == ["formulaire.bpmn"]
        in_deployment = client.get(
            f"/engine-rest/process-definition?deploymentId={by_name[0]['id']}", headers=fac
        ).get_json()
        assert [d["key"] for d in in_deployment] == ["formulaire"]
        assert in_deployment[0]["deploymentId"] == by_name[0]["id"]
        page = client.get(
            "/engine-rest/deployment?sortBy=name&sortOrder=desc&firstResult=1&maxResults=2",
            headers=fac,
        ).get_json()
        assert [d["name"] for d in page] == sorted(names, reverse=True)[1:3]
        _error(client.get("/engine-rest/deployment?sortBy=name", headers=fac), 400)
        _error(client.get("/engine-rest/deployment?sortBy=x&sortOrder=asc", headers=fac), 400)
        _error(client.get("/engine-rest/deployment?maxResults=abc", headers=fac), 400)

        definition = client.get(
            "/engine-rest/process-definition/key/marche_clause_sociale", headers=fac
        ).get_json()
        deployment_id = definition["deploymentId"]
        one = client.get(f"/engine-rest/deployment/{deployment_id}", headers=fac).get_json()
        assert one["name"] == "marche_clause_sociale.bpmn"
        resources = client.get(
            f"/engine-rest/deployment/{deployment_id}/resources", headers=fac
        ).get_json()
        assert resources[0]["name"] == "marche_clause_sociale.bpmn"
        assert {r["name"] for r in resources[1:]} <= {
            "disposition_sociale.dmn",
            "part_main_oeuvre.dmn",
        }
        assert all(r["deploymentId"] == deployment_id for r in resources)
        first = resources[0]["id"]
        assert (
            client.get(
                f"/engine-rest/deployment/{deployment_id}/resources/{first}", headers=fac
            ).get_json()
            == resources[0]
        )
        data = client.get(
            f"/engine-rest/deployment/{deployment_id}/resources/{first}/data", headers=fac
        )
        assert data.status_code == 200 and b"<bpmn:definitions" in data.data
        _error(client.get("/engine-rest/deployment/999999", headers=fac), 404)
        _error(client.get("/engine-rest/deployment/abc/resources", headers=fac), 404)
        _error(client.get(f"/engine-rest/deployment/{deployment_id}/resources/x", headers=fac), 404)

        xml = client.get(
            "/engine-rest/process-definition/key/marche_clause_sociale/xml", headers=fac
        ).get_json()
        assert xml["id"] == definition["id"] and xml["bpmn20Xml"].startswith("<?xml")
        by_id = client.get(
            f"/engine-rest/process-definition/{definition['id']}/xml", headers=fac
        ).get_json()
        assert by_id == xml
        _error(client.get("/engine-rest/process-definition/key/inconnu/xml", headers=fac), 404)
        _error(client.get("/engine-rest/process-definition/inconnu:1:1/xml", headers=fac), 404)
        with db.factory() as s:
            row = s.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "formulaire"))
            assert str(row.id) in {d["id"] for d in deployments}


def test_history_of_instances_and_tasks(db):
    with world_app(db) as (_app, client, w):
        fac = w.basic("facilitateur1")
        committee = str(w.own.committee_id)
        # cancel the committee with a reason, via the API: the history keeps it
        cancelled = client.post(
            f"/api/v1/instances/{committee}/cancel",
            json={"reason": "comité reporté"},
            headers=w.auth("facilitateur1"),
        )
        assert cancelled.status_code == 200, cancelled.get_data(as_text=True)

        listed = client.get("/engine-rest/history/process-instance", headers=fac).get_json()
        ids = {i["id"] for i in listed}
        assert ids == {str(w.own.instance_id), committee}  # never the other territory's
        by_id = {i["id"]: i for i in listed}
        assert by_id[committee]["state"] == "EXTERNALLY_TERMINATED"
        assert by_id[committee]["deleteReason"] == "comité reporté"
        assert by_id[committee]["endTime"] and by_id[committee]["durationInMillis"] >= 0
        assert by_id[str(w.own.instance_id)]["state"] == "ACTIVE"
        assert by_id[str(w.own.instance_id)]["businessKey"] == w.own.marche_ref

        def history(query):
            return client.get(f"/engine-rest/history/process-instance?{query}", headers=fac)

        assert [i["id"] for i in history("finished=true").get_json()] == [committee]
        assert [i["id"] for i in history("unfinished=true").get_json()] == [str(w.own.instance_id)]
        assert [i["id"] for i in history(f"businessKey={w.own.marche_ref}").get_json()] == [
            str(w.own.instance_id)
        ]
        assert [i["id"] for i in history("processDefinitionKey=formulaire").get_json()] == [
            committee
        ]
        assert history(f"processInstanceId={w.foreign.instance_id}").get_json() == []
        assert history("processInstanceId=abc").status_code == 400
        count = client.get("/engine-rest/history/process-instance/count", headers=fac)
        assert count.get_json() == {"count": 2}
        posted = client.post(
            "/engine-rest/history/process-instance",
            json={
                "processInstanceIds": [committee, str(w.foreign.instance_id)],
                "sorting": [{"sortBy": "startTime", "sortOrder": "desc"}],
            },
            headers=fac,
        )
        assert [i["id"] for i in posted.get_json()] == [committee]
        posted_count = client.post(
            "/engine-rest/history/process-instance/count", json={"finished": True}, headers=fac
        )
        assert posted_count.get_json() == {"count": 1}
        _error(
            client.post(
                "/engine-rest/history/process-instance", json={"sorting": "x"}, headers=fac
            ),
            400,
        )
        one = client.get(f"/engine-rest/history/process-instance/{committee}", headers=fac)
        assert one.get_json()["processDefinitionKey"] == "formulaire"
        _error(
            client.get(
                f"/engine-rest/history/process-instance/{w.foreign.instance_id}", headers=fac
            ),
            404,
        )
        admin = client.get(
            "/engine-rest/history/process-instance/count", headers=w.basic("admin1")
        ).get_json()
        assert admin == {"count": 4}

        # tasks: the cancelled committee's task is kept, finished; the marché's is open
        tasks = client.get("/engine-rest/history/task", headers=fac).get_json()
        assert {t["processInstanceId"] for t in tasks} == {str(w.own.instance_id), committee}
        finished = client.get("/engine-rest/history/task?finished=true", headers=fac).get_json()
        assert [t["id"] for t in finished] == [w.own.committee_task_id]
        posted = client.post("/engine-rest/history/task", json={"finished": True}, headers=fac)
        assert posted.get_json() == finished
        assert finished[0]["deleteReason"] == "deleted" and finished[0]["endTime"]
        open_tasks = client.get(
            f"/engine-rest/history/task?processInstanceId={w.own.instance_id}", headers=fac
        ).get_json()
        assert [t["id"] for t in open_tasks] == [w.own.task_id]
        assert open_tasks[0]["endTime"] is None and open_tasks[0]["deleteReason"] is None

        # complete the marché's task as the buyer, then find it by assignee, finished
        buyer = w.basic("acheteur1")
        with db.factory() as s:
            task = s.get(HumanTask, w.own.task_id)
            assert task.state == "open"
        claim = client.post(f"/engine-rest/task/{w.own.task_id}/claim", json={}, headers=buyer)
        assert claim.status_code == 204, claim.get_data(as_text=True)
        mine = client.get("/engine-rest/history/task?taskAssignee=acheteur1", headers=buyer)
        assert [t["id"] for t in mine.get_json()] == [w.own.task_id]
        assert client.get("/engine-rest/history/task/count", headers=buyer).get_json() == {
            "count": 1
        }
        foreign = client.get(
            f"/engine-rest/history/task?processInstanceId={w.foreign.instance_id}", headers=buyer
        )
        assert foreign.get_json() == []
        _error(client.get("/engine-rest/history/task?sortBy=nope&sortOrder=asc", headers=fac), 400)
        sorted_tasks = client.get(
            "/engine-rest/history/task?sortBy=taskId&sortOrder=desc", headers=fac
        ).get_json()
        assert [t["id"] for t in sorted_tasks] == sorted((t["id"] for t in tasks), reverse=True)
