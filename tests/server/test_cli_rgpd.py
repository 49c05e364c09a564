"""The data-protection commands: export, erasure and retention of beneficiaries."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from server.cli import main
from tests.workflows.factories import buyer, facilitator, marche, notified, person, territory
from workflows.execution import service as execution
from workflows.marches import service as marches


@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def people(db) -> tuple[int, int]:
    """One person with hours on a marché, one registered long ago and never hired."""
    with db.factory() as session:
        here = territory(session)
        m = notified(session, marche(session, buyer_id=buyer(session).id, territory_id=here.id))
        camille = facilitator(here)
        karim = person(session, camille, here.id)
        (holder, _), *_ = marches.get_holders(session=session, marche_id=m.id)
        execution.record_hours(
            session=session,
            actor=camille,
            marche_id=m.id,
            holder_id=holder.id,
            beneficiary_id=karim.id,
            month=date(2026, 3, 1),
            hours=70,
            route="embauche_directe",
            contract_type="cdd",
            contract_start=date(2026, 3, 2),
        )
        paul = person(session, camille, here.id, first_name="Paul", eligible_on=None)
        paul.created_at = paul.created_at.replace(year=2023)
        session.commit()
        return karim.id, paul.id


def test_export_prints_everything_held_on_a_person(cli, db, tmp_path):
    karim, _ = people(db)
    data = json.loads(cli("rgpd", "export", str(karim), "--user", "dpo"))
    assert data["personne"]["prenom"] == "Karim" and data["heures"][0]["heures"] == "70.00"
    assert data["acces"][-1]["par"] == "dpo"
    target = tmp_path / "karim.json"
    assert "Export écrit" in cli("rgpd", "export", str(karim), "--output", str(target))
    assert json.loads(target.read_text(encoding="utf-8"))["personne"]["nom"] == "Benali"


def test_erase_then_retention_with_a_simulation_first(cli, db):
    karim, paul = people(db)
    out = cli("rgpd", "retention", "--months", "6", "--date", "2026-11-15", "--simulation")
    assert "Simulation : 1 bénéficiaire(s) anonymisé(s), 1 supprimé(s)" in out
    assert "Karim" in cli("rgpd", "export", str(karim))  # nothing changed
    assert "effacé" in cli("rgpd", "erase", str(karim))
    assert json.loads(cli("rgpd", "export", str(karim)))["personne"]["prenom"] is None
    out = cli("rgpd", "retention", "--months", "6", "--date", "2026-11-15")
    assert "0 bénéficiaire(s) anonymisé(s), 1 supprimé(s)" in out
    assert "introuvable" in cli("rgpd", "export", str(paul), code=1)


def test_bad_arguments_exit_non_zero_in_french(cli, db):
    assert "introuvable" in cli("rgpd", "erase", "999", code=1)
    cli("rgpd", "retention", "--months", "0", code=2)
    assert "Données personnelles" in cli("rgpd", "--help")
