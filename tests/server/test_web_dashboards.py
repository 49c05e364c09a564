"""Dashboards through Flask's test client: a territory's indicators against its objectives with
their charts, a buyer narrowed to its organisation, the printable committee pack and its exports.
"""

from __future__ import annotations

import re
from datetime import date

from tests.server.api.world import world_app
from tests.server.test_web import login
from tests.server.test_web_marches import SPACES, in_execution
from workflows.access import Actor
from workflows.indicateurs import service as indicateurs

ADMIN = Actor(login="admin", role="admin")


def text_of(response) -> str:
    return response.get_data(as_text=True).translate(SPACES)


def with_objectives(db, world) -> None:
    with db.factory() as s:
        period = (date(2026, 1, 1), date(2026, 12, 31))
        territory = world.own.territory_id
        indicateurs.seed_essonne_objectives(
            session=s, actor=ADMIN, territory_id=territory, period=period
        )
        s.commit()


def test_a_facilitator_sees_the_territory_against_its_objectives_with_charts(db):
    with world_app(db) as (_app, client, world):
        in_execution(db, world)
        with_objectives(db, world)
        login(client, "facilitateur1")
        answer = client.get("/tableaux-de-bord/")
        text = text_of(answer)
        assert answer.status_code == 200
        assert "Territoire 1" in text and "Territoire 2" not in text
        assert (
            'value="2026-01-01"' in text and 'value="2026-12-31"' in text
        )  # the objectives' period
        row = re.search(r'<tr data-indicateur="heures">.*?</tr>', text, re.S).group(0)
        assert "40 h" in row and "2 000 000 h" in row
        assert 'data-chart="graphique-objectifs"' in text and 'role="img"' in text
        assert re.search(r"<title[^>]*>Atteinte des objectifs</title>", text)
        assert 'data-chart="graphique-acheteurs"' in text and "Ville 1" in text
        assert "Ville 2" not in text
        assert 'href="/tableaux-de-bord/comite/T1?' in text
        # asking the other side's territory gives one's own
        other = text_of(client.get(f"/tableaux-de-bord/?territoire={world.foreign.territory_id}"))
        assert "Territoire 2" not in other.split("<h2")[1]
        # a bad period: an inline error, never a 500
        bad = client.get("/tableaux-de-bord/?du=2026-12-31&au=2026-01-01")
        block = re.search(r'<div[^>]*data-champ="au".*?</div>', text_of(bad), re.S).group(0)
        assert bad.status_code == 200 and "fr-input-group--error" in block
        assert "précède son début" in block


def test_a_buyer_sees_only_its_organisation(db):
    with world_app(db) as (_app, client, world):
        in_execution(db, world)
        login(client, "acheteur1")
        text = text_of(client.get("/tableaux-de-bord/"))
        assert "Ville 1" in text and "Ville 2" not in text
        assert "moins de 3 personnes" in text  # what leaves the facilitators is protected
        row = re.search(r'<tr data-indicateur="beneficiaires">.*?</tr>', text, re.S).group(0)
        assert "&lt; 3" in row
        assert "lien-comite" not in text


def test_committee_pack_prints_and_downloads_for_the_territory_only(db):
    with world_app(db) as (_app, client, world):
        in_execution(db, world)
        with_objectives(db, world)
        login(client, "coordinateur1")
        answer = client.get("/tableaux-de-bord/comite/T1?comite=comite_pilotage")
        text = text_of(answer)
        assert answer.status_code == 200
        assert "Comité de pilotage — Territoire 1" in text
        assert "suivi.css" in text and 'id="imprimer"' in text
        assert "Indicateurs et objectifs" in text and "<svg" in text
        assert "Ville 1" in text
        for fmt, media in (("pdf", "application/pdf"), ("csv", "text/csv")):
            link = re.search(rf'href="(/tableaux-de-bord/comite/T1/dossier\.{fmt}[^"]*)"', text)
            download = client.get(link.group(1).replace("&amp;", "&"))
            assert download.status_code == 200 and download.mimetype == media
        xlsx = client.get("/tableaux-de-bord/comite/T1/dossier.xlsx")
        assert xlsx.mimetype.endswith("spreadsheetml.sheet")
        assert client.get("/tableaux-de-bord/comite/T2").status_code == 403
        assert client.get("/tableaux-de-bord/comite/T2/dossier.pdf").status_code == 403
        assert client.get("/tableaux-de-bord/comite/INCONNU").status_code == 404
        assert client.get("/tableaux-de-bord/comite/T1?du=demain&au=x").status_code == 422
