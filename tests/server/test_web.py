"""The web inbox shows the signed-in user's own tasks, never another organisation's."""

from __future__ import annotations

import re

from tests.server.api.world import PASSWORD, world_app


def login(client, user: str):
    page = client.get("/connexion")
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/connexion", data={"csrf": token, "login": user, "password": PASSWORD})


def test_inbox_needs_a_login_and_shows_only_the_users_scope(db):
    with world_app(db) as (_app, client, world):
        assert client.get("/").status_code == 302
        assert login(client, "acheteur1").status_code == 302
        page = client.get("/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and 'lang="fr"' in text
        assert "Connecté : acheteur1 (acheteur)" in text
        assert f"<td>{world.own.instance_id}</td>" in text
        assert f"<td>{world.foreign.instance_id}</td>" not in text
        assert f"<td>{world.foreign.committee_id}</td>" not in text
