"""Authorization matrix: every endpoint × role × own/foreign data; nothing foreign ever leaks."""

from __future__ import annotations

from tests.server.api.world import ROLES, world_app

# (method, path template, body); placeholders are Side attributes
READS = [
    ("GET", "/api/v1/instances/{instance_id}", None),
    ("GET", "/api/v1/instances/{instance_id}/history", None),
    ("GET", "/api/v1/instances/{instance_id}/variables", None),
    ("GET", "/api/v1/instances/{committee_id}", None),
    ("GET", "/api/v1/instances/{committee_id}/history", None),
    ("GET", "/api/v1/tasks/{task_id}", None),
    ("GET", "/api/v1/tasks/{task_id}/comments", None),
    ("GET", "/api/v1/tasks/{committee_task_id}", None),
    ("GET", "/api/v1/marches/{marche_id}", None),
    ("GET", "/api/v1/marches/{marche_id}/clauses", None),
    ("GET", "/api/v1/marches/{marche_id}/hours", None),
    ("GET", "/api/v1/marches/{marche_id}/progress", None),
    ("GET", "/api/v1/beneficiaries/{beneficiary_id}", None),
    ("GET", "/engine-rest/task/{task_id}", None),
    ("GET", "/engine-rest/task/{task_id}/form-variables", None),
    ("GET", "/engine-rest/process-instance/{instance_id}", None),
    ("GET", "/engine-rest/process-instance/{instance_id}/variables", None),
    ("GET", "/api/v1/marches/{marche_id}/bilan", None),
    (
        "GET",
        "/api/v1/indicators?period_start=2026-01-01&period_end=2027-12-31"
        "&territory_id={territory_id}",
        None,
    ),
    ("GET", "/engine-rest/history/process-instance/{instance_id}", None),
    ("GET", "/api/v1/instances/{instance_id}/history?format=csv", None),
]
WRITES = [
    ("POST", "/api/v1/tasks/{task_id}/claim", None),
    ("POST", "/api/v1/tasks/{task_id}/unclaim", None),
    ("POST", "/api/v1/tasks/{task_id}/assign", {"user_id": "admin1"}),
    ("POST", "/api/v1/tasks/{task_id}/delegate", {"user_id": "admin1"}),
    ("POST", "/api/v1/tasks/{task_id}/resolve", None),
    ("POST", "/api/v1/tasks/{task_id}/complete", {"data": {}}),
    ("POST", "/api/v1/tasks/{task_id}/comments", {"text": "fuite ?"}),
    ("POST", "/api/v1/tasks/{committee_task_id}/claim", None),
    ("POST", "/api/v1/instances/{instance_id}/suspend", {}),
    ("POST", "/api/v1/instances/{instance_id}/resume", {}),
    ("POST", "/api/v1/instances/{instance_id}/cancel", {}),
    ("POST", "/api/v1/instances/{instance_id}/retry", {}),
    ("POST", "/api/v1/instances/{instance_id}/migrate", {}),
    ("POST", "/api/v1/instances/{committee_id}/cancel", {}),
    ("POST", "/api/v1/marches/{marche_id}/calibration", {}),
    (
        "POST",
        "/api/v1/marches/{marche_id}/hours",
        {
            "holder_id": 1,
            "beneficiary_id": 1,
            "month": "2027-01-01",
            "hours": "10",
            "route": "embauche_directe",
            "contract_type": "cdd",
            "contract_start": "2027-01-01",
        },
    ),
    ("POST", "/engine-rest/task/{task_id}/claim", {"userId": "x"}),
    ("POST", "/engine-rest/task/{task_id}/unclaim", {}),
    ("POST", "/engine-rest/task/{task_id}/assignee", {"userId": "admin1"}),
    ("POST", "/engine-rest/task/{task_id}/complete", {"variables": {}}),
    ("DELETE", "/engine-rest/process-instance/{instance_id}", None),
    ("POST", "/api/v1/messages", {"message_name": "relance", "instance_id": "{instance_id}"}),
    ("POST", "/api/v1/messages", {"message_name": "relance", "business_key": "{marche_ref}"}),
    ("POST", "/engine-rest/message", {"messageName": "relance", "businessKey": "{marche_ref}"}),
    (
        "POST",
        "/engine-rest/message",
        {"messageName": "relance", "processInstanceId": "{committee_id}", "all": True},
    ),
]
# Camunda answers "no match" 400 where a foreign instance was named: it says no more than a 404.
WRITE_REFUSED = {"/engine-rest/message": {400, 403}}
LISTS = [
    ("GET", "/api/v1/tasks?page_size=500", None),
    ("GET", "/api/v1/tasks?state=completed", None),
    ("GET", "/api/v1/instances?page_size=100", None),
    ("GET", "/api/v1/marches", None),
    ("GET", "/api/v1/beneficiaries", None),
    ("GET", "/engine-rest/task", None),
    ("POST", "/engine-rest/task", {}),
    ("GET", "/engine-rest/process-instance", None),
    ("GET", "/api/v1/notifications", None),
    ("GET", "/engine-rest/history/process-instance", None),
    (
        "GET",
        "/engine-rest/history/process-instance?finished=true&sortBy=startTime&sortOrder=desc",
        None,
    ),
    ("GET", "/engine-rest/history/process-instance/count", None),
    ("GET", "/engine-rest/history/task", None),
    ("GET", "/engine-rest/history/task/count?finished=true", None),
    ("GET", "/engine-rest/deployment", None),
    ("GET", "/api/v1/definitions/marche_clause_sociale/versions/1/svg", None),
]
# A buyer asking another territory's indicators gets its own organisation's figures there (none).
NARROWED = {("acheteur", next(t for _m, t, _b in READS if "indicators" in t)): {200}}
# What each role sees of its own side (True = 200); everything else is 403 or 404.
OWN_VISIBLE = {
    "acheteur": {0, 1, 2, 5, 6, 8, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20},
    "facilitateur": set(range(len(READS))),
    "coordinateur": set(range(len(READS))),
    "admin": set(range(len(READS))),
}


def _call(client, method, template, body, side, headers):
    path = template.format(**vars(side))
    if body:
        body = {k: v.format(**vars(side)) if isinstance(v, str) else v for k, v in body.items()}
    return client.open(path, method=method, json=body, headers=headers)


def _markers(side) -> list[str]:
    """Strings that only the side's data contains."""
    return [side.marche_ref, side.task_id, side.committee_task_id, f'"{side.territory_code}"']


def _no_leak(response, side) -> None:
    text = response.get_data(as_text=True)
    for marker in _markers(side):
        if marker in response.request.path:
            continue  # a 404 may echo the id the client sent
        assert marker not in text, (response.request.path, marker)


def test_authorization_matrix(db):
    calls = 0
    with world_app(db) as (_app, client, world):
        for role in ROLES:
            headers = world.auth(f"{role}1")
            for index, (method, template, body) in enumerate(READS):
                own = _call(client, method, template, body, world.own, headers)
                expected = {200} if index in OWN_VISIBLE[role] else {403, 404}
                assert own.status_code in expected, (role, template, own.status_code)
                foreign = _call(client, method, template, body, world.foreign, headers)
                if role == "admin":
                    assert foreign.status_code == 200, (template, foreign.status_code)
                else:
                    refused = {403, 404} | NARROWED.get((role, template), set())
                    assert foreign.status_code in refused, (role, template, foreign.status_code)
                    _no_leak(foreign, world.foreign)
                calls += 2
            if role == "admin":
                continue
            for method, template, body in WRITES:
                foreign = _call(client, method, template, body, world.foreign, headers)
                refused = WRITE_REFUSED.get(template, {403, 404})
                assert foreign.status_code in refused, (role, template, foreign.status_code)
                _no_leak(foreign, world.foreign)
                calls += 1
            for method, template, body in LISTS:
                listed = client.open(template, method=method, json=body, headers=headers)
                assert listed.status_code in (200, 403), (role, template, listed.status_code)
                _no_leak(listed, world.foreign)
                calls += 1
        # nothing on the foreign side changed
        check = world.auth("admin2")
        instance = client.get(f"/api/v1/instances/{world.foreign.instance_id}", headers=check)
        assert instance.get_json()["status"] == "running"
        assert instance.get_json()["lock_version"] == 1
        task = client.get(f"/api/v1/tasks/{world.foreign.task_id}", headers=check).get_json()
        assert task["assignee"] is None and task["state"] == "open"
        assert (
            client.get(f"/api/v1/tasks/{world.foreign.task_id}/comments", headers=check).get_json()
            == []
        )
    assert calls > 200


def test_anonymous_gets_401_and_nothing(db):
    with world_app(db) as (_app, client, world):
        for path in ("/api/v1/tasks", "/api/v1/marches", "/engine-rest/task", "/api/v1/users/me"):
            response = client.get(path)
            assert response.status_code == 401
            _no_leak(response, world.own)
