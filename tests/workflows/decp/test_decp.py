"""DECP import: valid, partly invalid and repeated files, XML, reconciliation, the command."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from server.cli import main
from tests.workflows import factories as f
from workflows.decp import reader, service
from workflows.decp.models import DecpRecord
from workflows.engine.errors import FormInvalid
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Organisation

DATA = Path(__file__).parent / "data"
BUYER_SIRET = "81234567900011"


def _setup(session):
    """GPSEA covers Créteil (94028) and the 94; a buyer with its SIRET follows one marché."""
    gpsea = f.territory(
        session, areas=[("commune", "94028", "Créteil"), ("departement", "94", "Val-de-Marne")]
    )
    other = f.territory(session, code="AUTRES", name="Hors réseau")
    buyer = referentiel.create_organisation(
        session=session, actor=f.ADMIN, kind="acheteur", name="Ville de Créteil", siret=BUYER_SIRET
    )
    followed = f.marche(session, buyer_id=buyer.id, territory_id=gpsea.id)
    return gpsea, other, buyer, followed


def _import(session, name: str, default=None):
    return service.import_records(
        session=session, actor=f.ADMIN, records=reader.read_path(DATA / name),
        default_territory_id=default,
    )  # fmt: skip


def _marche(session, reference: str) -> Marche:
    return session.scalar(select(Marche).where(Marche.reference == reference))


def test_valid_file(session):
    gpsea, other, buyer, followed = _setup(session)
    report = _import(session, "valid.json", default=other.id)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 1, 0, [])
    assert [(w.decp_id, w.field) for w in report.warnings] == [("2026-001", "titulaires[1]")]
    gym = _marche(session, "2026-001")
    assert (gym.buyer_id, gym.territory_id, gym.nature, gym.cpv_code) == (
        buyer.id, gpsea.id, "travaux", "45212200",
    )  # fmt: skip
    assert (gym.disposition, gym.disposition_article) == ("clause_insertion", "L2112-2")
    assert gym.final_amount_ht == Decimal(1250000) and gym.duration_months == 18
    assert str(gym.planned_end_date) == "2027-09-02" and gym.instance_id is None
    assert [h.siret for h, _ in marches.get_holders(session=session, marche_id=gym.id)] == [
        f.SIRETS[0]
    ]
    cleaning = _marche(session, "2026-002")
    assert (cleaning.territory_id, cleaning.nature, cleaning.is_framework) == (
        gpsea.id, "services", True,
    )  # fmt: skip
    assert cleaning.disposition == "clause_et_critere"
    furniture = _marche(session, "2026-003")
    assert (furniture.territory_id, furniture.nature, furniture.disposition) == (
        other.id, "fournitures", "aucune",
    )  # fmt: skip
    # The followed marché keeps its lifecycle data; DECP fills the notification only.
    assert followed.subject == "Réhabilitation du groupe scolaire Jean-Jaurès"
    assert str(followed.notification_date) == "2026-04-01" and followed.final_amount_ht == 990000
    pending = service.to_reconcile(session=session, actor=f.ADMIN)
    assert [m.reference for _, m in pending] == ["2026-001", "2026-002"]
    service.acknowledge(session=session, actor=f.facilitator(gpsea), marche_id=gym.id)
    assert [m.reference for _, m in service.to_reconcile(session=session, actor=f.ADMIN)] == [
        "2026-002"
    ]
    stranger = f.facilitator(other)
    assert service.to_reconcile(session=session, actor=stranger) == []


def test_partly_invalid_file(session):
    _, other, _, _ = _setup(session)
    report = _import(session, "partly_invalid.json", default=other.id)
    assert report.created == 1
    assert [(r.decp_id, r.field) for r in report.rejected] == [
        ("2026-011", "acheteur.id"),
        ("2026-012", "codeCPV"),
        ("2026-013", "titulaires[0].id"),
        ("2026-014", "considerationsSociales"),
        ("#6", "marche"),
    ]
    # The savepoint dropped the marché 2026-013 created before its holder failed.
    assert _marche(session, "2026-013") is None and _marche(session, "2026-010") is not None
    assert session.scalar(select(func.count()).select_from(DecpRecord)) == 1


def test_repeated_import_is_idempotent(session):
    _, other, _, _ = _setup(session)
    _import(session, "valid.json", default=other.id)
    counts = (
        session.scalar(select(func.count()).select_from(Marche)),
        session.scalar(select(func.count()).select_from(Organisation)),
    )
    again = _import(session, "valid.json", default=other.id)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    records = reader.read_path(DATA / "valid.json")
    changed = copy.deepcopy(records)
    changed[0]["objet"] = "Réhabilitation du gymnase Casalis (avenant)"
    third = service.import_records(
        session=session, actor=f.ADMIN, records=changed, default_territory_id=other.id
    )
    assert (third.created, third.updated, third.unchanged) == (0, 1, 3)
    assert _marche(session, "2026-001").subject.endswith("(avenant)")
    assert counts == (
        session.scalar(select(func.count()).select_from(Marche)),
        session.scalar(select(func.count()).select_from(Organisation)),
    )


def test_xml_file_and_bad_documents(session):
    gpsea, *_ = _setup(session)
    report = _import(session, "valid.xml")
    assert report.created == 1 and report.rejected == []
    collecte = _marche(session, "2026-020")
    assert collecte.territory_id == gpsea.id and len(collecte.holders_text or "") == 0
    assert len(marches.get_holders(session=session, marche_id=collecte.id)) == 2
    with pytest.raises(FormInvalid) as bad:
        reader.parse_bytes(b'{"autre": 1}')
    assert "format DECP v2" in bad.value.errors["fichier"]
    with pytest.raises(FormInvalid):
        reader.parse_bytes(b"<marches><marche></marches>")


def test_command(db, monkeypatch, tmp_path):
    with db.factory() as session:
        _setup(session)
        session.commit()
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    runner = CliRunner()
    args = ["import-decp", str(DATA / "valid.json"), "--territoire", "AUTRES"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 marché(s) créé(s), 1 mis à jour, 0 inchangé(s), 0 rejeté(s)." in result.output
    assert "À rapprocher (2)" in result.output and "2026-001 — Réhabilitation" in result.output
    result = runner.invoke(main, [*args[:2]], catch_exceptions=False)
    assert "0 marché(s) créé(s), 0 mis à jour, 4 inchangé(s)" in result.output
    partial = runner.invoke(main, ["import-decp", str(DATA / "partly_invalid.json")])
    assert "Rejeté : 2026-011 — champ acheteur.id" in partial.output
