"""Marché pages through Flask's test client: the scoped list and its CSV, the page of a marché,
the facilitators' screens (hours, beneficiaries, outcomes), the diagram data and the bilan exports.

The two-sided world of the API tests: `own` is what the first side's accounts may see.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from tests.server.api.world import world_app
from tests.server.test_web import csrf, login
from tests.workflows.factories import notified, person, with_target
from workflows.access import Actor
from workflows.beneficiaires.models import Beneficiary
from workflows.engine.models import HumanTask
from workflows.execution import service as execution
from workflows.execution.models import HoursRecord, Outcome
from workflows.marches.models import Marche
from workflows.referentiel.models import Holder
from workflows.rgpd.models import BeneficiaryAccess

NAMES = ("Benali", "Karim", "Moreau", "Julie", "Diallo")
SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


def facilitator(side) -> Actor:
    return Actor(
        login="facilitateur1", role="facilitateur", territory_ids=frozenset({side.territory_id})
    )


def in_execution(db, world, *, people: int = 1) -> dict:
    """The own marché notified (one holder), a 1 000 h target, hours of `people` persons."""
    side = world.own
    with db.factory() as s:
        marche = s.get(Marche, side.marche_id)
        with_target(s, marche, 1000)
        notified(s, marche)
        holder = s.scalar(select(Holder.id))
        ids = [side.beneficiary_id]
        names = [("Julie", "Moreau", "F"), ("Mamadou", "Diallo", "H")]
        for first, last, sex in names[: people - 1]:
            extra = person(
                s, facilitator(side), side.territory_id, first_name=first, last_name=last, sex=sex
            )
            ids.append(extra.id)
        for beneficiary_id in ids:
            execution.record_hours(
                session=s, actor=facilitator(side), marche_id=marche.id, holder_id=holder,
                beneficiary_id=beneficiary_id, month="2026-02-01", hours=40,
                route="embauche_directe", contract_type="cdd", contract_start="2026-02-01",
            )  # fmt: skip
        s.commit()
    return {"holder_id": holder, "beneficiaries": ids}


def field_block(text: str, name: str) -> str:
    return re.search(rf'<div[^>]*data-champ="{name}".*?</div>', text, re.S).group(0)


def test_list_is_scoped_searchable_and_exported_without_people(db):
    with world_app(db) as (_app, client, world):
        in_execution(db, world)
        login(client, "acheteur1")
        text = client.get("/marches/").get_data(as_text=True).translate(SPACES)
        assert world.own.marche_ref in text and world.foreign.marche_ref not in text
        assert "1 marché" in text and "40 h / 1 000 h" in text
        assert world.own.marche_ref in client.get("/marches/?q=m-1").get_data(
            as_text=True
        ).translate(SPACES)
        assert "Aucun marché ne correspond" in client.get("/marches/?q=zzz").get_data(
            as_text=True
        ).translate(SPACES)
        assert "1 marché" in client.get("/marches/?phase=analyse").get_data(as_text=True).translate(
            SPACES
        )
        assert "0 marché" in client.get("/marches/?phase=clos").get_data(as_text=True).translate(
            SPACES
        )
        other = f"/marches/?acheteur={world.foreign.buyer_id}"
        assert world.foreign.marche_ref not in client.get(other).get_data(as_text=True).translate(
            SPACES
        )
        export = client.get("/marches/export.csv")
        data = export.get_data(as_text=True).translate(SPACES)
        assert export.status_code == 200 and export.mimetype == "text/csv"
        assert "attachment" in export.headers["Content-Disposition"]
        assert world.own.marche_ref in data and world.foreign.marche_ref not in data
        assert not any(name in data for name in NAMES)
        # the other side's marché, by URL: as if absent
        foreign = world.foreign.marche_id
        for path in ("", "/diagramme.json", "/bilan.csv", "/heures", "/sorties"):
            assert client.get(f"/marches/{foreign}{path}").status_code == 404, path
        # in English on request
        english = client.get("/marches/?lang=en").get_data(as_text=True)
        assert "Export the list (CSV)" in english and "1 contract" in english


def test_page_shows_clause_progress_holders_tasks_and_timeline(db):
    with world_app(db) as (_app, client, world):
        in_execution(db, world)
        login(client, "acheteur1")
        page = client.get(f"/marches/{world.own.marche_id}")
        text = page.get_data(as_text=True).translate(SPACES)
        assert page.status_code == 200
        for anchor in ("synthese", "clause", "avancement", "titulaires", "taches", "journal"):
            assert f'id="{anchor}"' in text
        assert 'role="progressbar"' in text and 'aria-valuenow="40.00"' in text
        assert re.search(r'id="heures-realisees">40 h<', text)
        assert re.search(r'id="heures-objectif">1 000 h<', text)
        assert "BTP Val-de-Marne" in text  # the holder
        with db.factory() as s:
            task = s.get(HumanTask, world.own.task_id)
        assert f'href="/taches/{task.id}"' in text
        assert "Cycle de vie démarré" in text  # the instance's events
        assert 'data-source="/marches/' in text
        # a buyer is offered no facilitator screen and sees no beneficiary
        assert "actions-facilitateur" not in text
        assert not any(name in text for name in NAMES)
        assert "Relevé d&#39;heures" not in text  # the hours records are the facilitators'


def test_buyer_cannot_reach_the_facilitator_screens(db):
    with world_app(db) as (_app, client, world):
        login(client, "acheteur1")
        token = csrf(client)
        own = world.own.marche_id
        for path in ("heures", "beneficiaires/nouveau", "sorties"):
            assert client.get(f"/marches/{own}/{path}").status_code == 403, path
            sent = {"csrf": token, "last_name": "X", "first_name": "Y", "hours": "3"}
            assert client.post(f"/marches/{own}/{path}", data=sent).status_code == 403, path
    with db.factory() as s:
        assert s.scalar(select(HoursRecord.id)) is None
        assert s.scalars(select(Beneficiary.last_name)).all() == ["Benali", "Benali"]


def test_a_facilitator_enters_hours_and_the_progress_changes(db):
    with world_app(db) as (_app, client, world):
        setup = in_execution(db, world)
        login(client, "facilitateur1")
        url = f"/marches/{world.own.marche_id}"
        assert 'aria-valuenow="40.00"' in client.get(url).get_data(as_text=True).translate(SPACES)
        form = client.get(f"{url}/heures").get_data(as_text=True).translate(SPACES)
        assert "Benali Karim" in form  # facilitators pick people by name
        sent = {
            "csrf": csrf(client),
            "beneficiary_id": str(world.own.beneficiary_id),
            "holder_id": str(setup["holder_id"]),
            "month": "2026-03",
            "hours": "35,5",
            "route": "embauche_directe",
            "contract_type": "cdd",
            "contract_start": "2026-02-01",
            "counting_method": "heures_travaillees",
        }
        answer = client.post(f"{url}/heures", data=sent)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("#avancement")
        text = client.get(url).get_data(as_text=True).translate(SPACES)
        assert "35,5 h enregistrées pour le mois de 03/2026" in text
        assert 'aria-valuenow="75.50"' in text
        assert re.search(r'id="heures-realisees">75,5 h<', text)
        assert "Relevé d&#39;heures" in text  # in the timeline
    with db.factory() as s:
        record = s.scalars(select(HoursRecord).order_by(HoursRecord.id.desc())).first()
        assert record.created_by == "facilitateur1" and str(record.month) == "2026-03-01"


def test_bad_hours_are_refused_inline_and_nothing_is_written(db):
    with world_app(db) as (_app, client, world):
        setup = in_execution(db, world)
        login(client, "facilitateur1")
        url = f"/marches/{world.own.marche_id}/heures"
        sent = {
            "csrf": csrf(client),
            "beneficiary_id": str(world.own.beneficiary_id),
            "holder_id": str(setup["holder_id"]),
            "month": "2026-03",
            "hours": "beaucoup",
            "route": "",
            "contract_type": "cdd",
            "contract_start": "2026-02-01",
            "counting_method": "heures_travaillees",
        }
        answer = client.post(url, data=sent)
        text = answer.get_data(as_text=True).translate(SPACES)
        assert answer.status_code == 200 and 'id="probleme"' in text
        route = field_block(text, "route")
        assert "fr-select-group--error" in route and "obligatoire" in route
        # the service's refusal lands on its field, what was typed stays
        answer = client.post(url, data={**sent, "route": "embauche_directe"})
        hours = field_block(answer.get_data(as_text=True).translate(SPACES), "hours")
        assert "fr-input-group--error" in hours and "un nombre est attendu" in hours
        assert 'value="beaucoup"' in hours
        early = {**sent, "route": "embauche_directe", "hours": "10", "month": "2025-11"}
        month = field_block(
            client.post(url, data=early).get_data(as_text=True).translate(SPACES), "month"
        )
        assert "antérieur au début du contrat" in month
        too_many = {**sent, "route": "embauche_directe", "hours": "900"}
        text = client.post(url, data=too_many).get_data(as_text=True).translate(SPACES)
        assert "au plus 744" in field_block(text, "hours")
        stranger = {**sent, "route": "embauche_directe", "hours": "5", "beneficiary_id": "999"}
        text = client.post(url, data=stranger).get_data(as_text=True).translate(SPACES)
        assert "choix invalide" in field_block(text, "beneficiary_id")
        text = (
            client.post(url, data={**sent, "hours": "5", "route": "etti"})
            .get_data(as_text=True)
            .translate(SPACES)
        )
        assert "structure" in field_block(text, "structure_id")
    with db.factory() as s:
        assert len(s.scalars(select(HoursRecord.id)).all()) == 1  # the setup's only


def test_a_facilitator_registers_a_beneficiary_then_an_outcome(db):
    with world_app(db) as (_app, client, world):
        setup = in_execution(db, world)
        login(client, "facilitateur1")
        url = f"/marches/{world.own.marche_id}"
        bad = {"csrf": csrf(client), "last_name": "Moreau", "first_name": "", "postcode": "9400"}
        text = (
            client.post(f"{url}/beneficiaires/nouveau", data=bad)
            .get_data(as_text=True)
            .translate(SPACES)
        )
        assert "obligatoire" in field_block(text, "first_name")
        good = {**bad, "first_name": "Julie", "birth_year": "2004", "sex": "F"}
        good.update({"postcode": "94140", "kind": "rsa", "validated_on": "2026-01-15"})
        text = client.post(f"{url}/beneficiaires/nouveau", data={**good, "postcode": "9400"})
        assert "code postal" in field_block(
            text.get_data(as_text=True).translate(SPACES), "postcode"
        )
        answer = client.post(f"{url}/beneficiaires/nouveau", data=good)
        assert answer.status_code == 302 and "/heures?beneficiaire=" in answer.headers["Location"]
        assert "pseudonyme B-" in client.get(answer.headers["Location"]).get_data(
            as_text=True
        ).translate(SPACES)
        outcome = {
            "csrf": csrf(client),
            "beneficiary_id": str(world.own.beneficiary_id),
            "holder_id": str(setup["holder_id"]),
            "contract_start": "2026-02-01",
            "contract_end": "2026-01-01",
            "kind": "cdi",
        }
        text = client.post(f"{url}/sorties", data=outcome).get_data(as_text=True).translate(SPACES)
        assert "précède son début" in field_block(text, "contract_end")
        answer = client.post(f"{url}/sorties", data={**outcome, "contract_end": "2026-08-31"})
        assert answer.status_code == 302
        assert "Sortie enregistrée" in client.get(url).get_data(as_text=True).translate(SPACES)
    with db.factory() as s:
        julie = s.scalar(select(Beneficiary).where(Beneficiary.first_name == "Julie"))
        assert julie.birth_year == 2004 and julie.age_band and julie.criteria[0].kind == "rsa"
        logged = s.scalars(
            select(BeneficiaryAccess.action).where(BeneficiaryAccess.beneficiary_id == julie.id)
        ).all()
        assert "creation" in logged
        assert s.scalar(select(Outcome.kind)) == "cdi"


def test_bilan_exports_never_carry_names_and_buyers_get_no_pseudonyms(db):
    with world_app(db) as (app, _client, world):
        setup = in_execution(db, world, people=3)
        with db.factory() as s:
            codes = s.scalars(
                select(Beneficiary.pseudonym).where(Beneficiary.id.in_(setup["beneficiaries"]))
            ).all()
        url = f"/marches/{world.own.marche_id}"
        for login_name, pseudonyms in (("acheteur1", False), ("facilitateur1", True)):
            client = app.test_client()
            login(client, login_name)
            page = client.get(url).get_data(as_text=True).translate(SPACES)
            assert ("B-" in page) is pseudonyms and not any(n in page for n in NAMES)
            assert f"{url}/bilan.pdf" in page
            csv_answer = client.get(f"{url}/bilan.csv")
            assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
            text = csv_answer.get_data(as_text=True).translate(SPACES)
            assert "Heures d'insertion réalisées;120" in text
            assert not any(name in text for name in NAMES)
            assert all((code in text) is pseudonyms for code in codes)
            xlsx = client.get(f"{url}/bilan.xlsx")
            assert xlsx.mimetype.endswith("spreadsheetml.sheet")
            book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
            cells = " ".join(
                str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                for v in row if v is not None
            )  # fmt: skip
            assert not any(name in cells for name in NAMES)
            assert all((code in cells) is pseudonyms for code in codes)
            pdf = client.get(f"{url}/bilan.pdf")
            assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_diagram_json_gives_the_current_tasks_and_the_completed_ones(db):
    with world_app(db) as (_app, client, world):
        login(client, "facilitateur1")
        url = f"/marches/{world.own.marche_id}/diagramme.json"
        data = client.get(url).get_json()
        with db.factory() as s:
            open_ids = s.scalars(
                select(HumanTask.element_id).where(
                    HumanTask.instance_id == world.own.instance_id, HumanTask.state == "open"
                )
            ).all()
        assert data["current"] == sorted(set(open_ids)) and data["current"]
        assert data["completed"] == [] and data["status"] == "running"
        assert isinstance(data["waiting"], list)
        assert "<bpmn:definitions" in data["xml"] or "<definitions" in data["xml"]
        assert f'id="{data["current"][0]}"' in data["xml"]
        # a buyer of the marché gets it too; the other side's buyer does not
        login(client, "acheteur1")
        assert client.get(url).get_json()["current"] == data["current"]
        login(client, "acheteur2")
        assert client.get(url).status_code == 404


def test_meeting_invitation_downloads_as_ics(db):
    from notifications.models import CalendarEvent

    with world_app(db) as (_app, client, world):
        with db.factory() as s:
            start = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
            s.add(
                CalendarEvent(
                    uid="test@clausier", source="lancement:test", sequence=0,
                    summary=f"Réunion de lancement — {world.own.marche_ref}", starts_at=start,
                    ends_at=start + timedelta(hours=2), instance_id=world.own.instance_id,
                )
            )  # fmt: skip
            s.commit()
            event_id = s.scalar(select(CalendarEvent.id))
        login(client, "acheteur1")
        page = (
            client.get(f"/marches/{world.own.marche_id}").get_data(as_text=True).translate(SPACES)
        )
        link = f"/marches/{world.own.marche_id}/reunions/{event_id}.ics"
        assert link in page
        answer = client.get(link)
        assert answer.status_code == 200 and answer.mimetype == "text/calendar"
        assert "BEGIN:VEVENT" in answer.get_data(as_text=True).translate(SPACES)
        foreign = f"/marches/{world.foreign.marche_id}/reunions/{event_id}.ics"
        assert client.get(foreign).status_code == 404


# --- registering a marché -------------------------------------------------------------------

NEW_MARCHE = {
    "reference": "GPSEA-2026-100",
    "subject": "Entretien des espaces verts",
    "nature": "services",
    "cpv_code": "77310000-6",
    "estimated_amount_ht": "250 000,50",
    "duration_months": "24",
    "place_of_execution": "Créteil",
    "is_framework": "false",
    "max_amount_ht": "",
}


def marche_count(db) -> int:
    with db.factory() as s:
        return len(s.scalars(select(Marche.id)).all())


def test_a_buyer_registers_a_marche_and_its_lifecycle_starts_in_their_inbox(db):
    with world_app(db) as (_app, client, world):
        login(client, "acheteur1")
        listing = client.get("/marches/").get_data(as_text=True)
        assert 'id="nouveau-marche"' in listing and 'href="/marches/nouveau"' in listing
        form = client.get("/marches/nouveau").get_data(as_text=True)
        assert "Ville 1" in field_block(form, "buyer_id")  # their own, not a choice
        assert 'name="buyer_id"' not in form and "Ville 2" not in form
        territories = field_block(form, "territory_id")
        assert "Territoire 1" in territories and "Territoire 2" in territories
        sent = {"csrf": csrf(client), "territory_id": str(world.own.territory_id), **NEW_MARCHE}
        answer = client.post("/marches/nouveau", data=sent)
        assert answer.status_code == 302
        with db.factory() as s:
            marche = s.scalar(select(Marche).where(Marche.reference == "GPSEA-2026-100"))
            assert answer.headers["Location"].endswith(f"/marches/{marche.id}")
            assert marche.buyer_id == world.own.buyer_id and marche.created_by == "acheteur1"
            assert str(marche.estimated_amount_ht) == "250000.50"
            assert marche.cpv_code == "77310000" and marche.duration_months == 24
            assert marche.place_of_execution == "Créteil" and marche.is_framework is False
            task = s.scalar(select(HumanTask).where(HumanTask.instance_id == marche.instance_id))
            assert task.element_id == "analyse_amont" and task.state == "open"
        text = client.get(answer.headers["Location"]).get_data(as_text=True).translate(SPACES)
        assert "Marché GPSEA-2026-100 enregistré" in text
        assert f'href="/taches/{task.id}"' in text
        inbox = client.get("/?onglet=toutes&marche=GPSEA-2026-100").get_data(as_text=True)
        assert f'href="/taches/{task.id}"' in inbox and "Entretien des espaces verts" in inbox
        english = client.get("/marches/nouveau?lang=en").get_data(as_text=True)
        assert "Register a contract" in english and "Framework agreement" in english
        # the other side's buyer sees neither the marché nor its task
        client = _app.test_client()
        login(client, "acheteur2")
        assert client.get(answer.headers["Location"]).status_code == 404
        assert client.get(f"/taches/{task.id}").status_code == 404


def test_bad_values_and_a_used_reference_are_refused_inline(db):
    with world_app(db) as (_app, client, world):
        login(client, "acheteur1")
        before = marche_count(db)
        token = csrf(client)
        bad = {
            **NEW_MARCHE,
            "csrf": token,
            "territory_id": str(world.own.territory_id),
            "estimated_amount_ht": "beaucoup",
            "duration_months": "200",
            "cpv_code": "7731",
            "subject": "",
            "max_amount_ht": "300000",
        }
        answer = client.post("/marches/nouveau", data=bad)
        text = answer.get_data(as_text=True).translate(SPACES)
        assert answer.status_code == 200 and 'id="probleme"' in text
        amount = field_block(text, "estimated_amount_ht")
        assert "fr-input-group--error" in amount and "un nombre est attendu" in amount
        assert 'value="beaucoup"' in amount
        assert "entre 1 et 120 mois" in field_block(text, "duration_months")
        assert "code CPV à 8 chiffres" in field_block(text, "cpv_code")
        assert "obligatoire" in field_block(text, "subject")
        assert "seulement pour un accord-cadre" in field_block(text, "max_amount_ht")
        assert 'value="GPSEA-2026-100"' in field_block(text, "reference")
        # a reference already used: the service refuses, on the field
        used = {**NEW_MARCHE, "csrf": token, "territory_id": str(world.own.territory_id)}
        used["reference"] = world.own.marche_ref
        text = client.post("/marches/nouveau", data=used).get_data(as_text=True)
        reference = field_block(text, "reference")
        assert "fr-input-group--error" in reference and "référence déjà utilisée" in reference
        assert 'value="Entretien des espaces verts"' in field_block(text, "subject")
        # an amount too large for the column, an unknown nature
        huge = {**used, "reference": "X-1", "estimated_amount_ht": "1e12", "nature": "autre"}
        text = client.post("/marches/nouveau", data=huge).get_data(as_text=True)
        assert "montant trop élevé" in field_block(text, "estimated_amount_ht")
        assert "choix invalide" in field_block(text, "nature")
        # without the form's token: refused, nothing written
        no_token = {**used, "reference": "X-2", "csrf": ""}
        assert client.post("/marches/nouveau", data=no_token).status_code == 400
        assert marche_count(db) == before


def test_only_their_own_buyer_or_territory_may_be_chosen(db):
    with world_app(db) as (_app, client, world):
        before = marche_count(db)
        login(client, "acheteur1")
        sent = {**NEW_MARCHE, "csrf": csrf(client), "territory_id": str(world.own.territory_id)}
        text = client.post(
            "/marches/nouveau", data={**sent, "buyer_id": str(world.foreign.buyer_id)}
        ).get_data(as_text=True)
        assert 'id="probleme"' in text and "choix invalide" in text
        assert marche_count(db) == before
        # a facilitator registers in their territories only, for a buyer they pick
        client.get("/deconnexion")
        client = _app.test_client()
        login(client, "facilitateur1")
        form = client.get("/marches/nouveau").get_data(as_text=True)
        territories = field_block(form, "territory_id")
        assert "Territoire 1" in territories and "Territoire 2" not in territories
        assert 'name="buyer_id"' in form
        sent = {
            **NEW_MARCHE,
            "csrf": csrf(client),
            "buyer_id": str(world.own.buyer_id),
            "territory_id": str(world.foreign.territory_id),
        }
        text = client.post("/marches/nouveau", data=sent).get_data(as_text=True)
        assert "choix invalide" in field_block(text, "territory_id")
        assert marche_count(db) == before
        answer = client.post(
            "/marches/nouveau", data={**sent, "territory_id": str(world.own.territory_id)}
        )
        assert answer.status_code == 302
        with db.factory() as s:
            marche = s.scalar(select(Marche).where(Marche.reference == "GPSEA-2026-100"))
            assert marche.created_by == "facilitateur1" and marche.instance_id is not None
        # the other side's facilitator sees nothing of it
        client = _app.test_client()
        login(client, "facilitateur2")
        assert client.get(answer.headers["Location"]).status_code == 404
