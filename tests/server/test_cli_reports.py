"""The report commands: a marché's bilan and a territory's committee pack, written to files."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from openpyxl import load_workbook

from server.cli import main
from tests.workflows import factories as f
from workflows.indicateurs import service as indicateurs


def test_bilan_and_committee_pack(db, monkeypatch, tmp_path):
    with db.factory() as session:
        here = f.territory(session)
        m = f.marche(session, buyer_id=f.buyer(session).id, territory_id=here.id)
        f.with_target(session, m, 800)
        f.notified(session, m)
        indicateurs.seed_essonne_objectives(
            session=session,
            actor=f.ADMIN,
            territory_id=here.id,
            period=(date(2026, 1, 1), date(2028, 12, 31)),
        )
        session.commit()
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    runner = CliRunner()
    pdf, xlsx = tmp_path / "bilan.pdf", tmp_path / "comite.xlsx"
    result = runner.invoke(main, ["bilan", "M-2027-001", "--output", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    args = ["comite", "GPSEA", "--format", "xlsx", "--output", str(xlsx)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    sheet = load_workbook(xlsx)["Synthèse"]
    assert sheet["A1"].value == "Comité de pilotage — Grand Paris Sud Est Avenir"
    assert sheet["A2"].value == "Période du 01/01/2026 au 31/12/2028"
    result = runner.invoke(main, ["comite", "NULLE", "--output", str(xlsx)])
    assert result.exit_code == 2 and "inconnu" in result.output
