"""Bilan of a marché: figures checked by hand, small-group suppression, exports, scoping."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.workflows import factories as f
from workflows.access import Forbidden
from workflows.bilans import exports, service
from workflows.bilans.suppression import hidden
from workflows.engine.errors import FormInvalid
from workflows.execution import service as execution
from workflows.referentiel import service as referentiel


def _data(session):
    """4 counted people, one flagged; figures worked out by hand in the tests below."""
    territory = f.territory(session)
    buyer = f.buyer(session)
    m = f.marche(session, buyer_id=buyer.id, territory_id=territory.id)
    f.with_target(session, m, 1000)
    f.notified(session, m, on=date(2026, 1, 1))
    m.bilan_text = "Très bonne implication du titulaire ; deux sorties durables."
    fac = f.facilitator(territory)
    etti = referentiel.create_structure(session=session, actor=f.ADMIN, kind="ETTI", name="ETTI")
    holder_id = f.marches.get_holders(session=session, marche_id=m.id)[0][0].id
    p1 = f.person(session, fac, territory.id, first_name="Aline", sex="F", birth_year=1990)
    p2 = f.person(session, fac, territory.id, first_name="Bruno", birth_year=1979)
    f.beneficiaries_add(session, fac, p2.id, date(2025, 12, 1), "rqth")
    p3 = f.person(session, fac, territory.id, birth_year=2003, kind="jeune_peu_qualifie")
    p4 = f.person(session, fac, territory.id, birth_year=1970, kind="deld")
    p5 = f.person(session, fac, territory.id, sex="F", eligible_on=date(2026, 3, 1))

    def hours(person, month, amount, route, contract, start, structure=None):
        execution.record_hours(
            session=session, actor=fac, marche_id=m.id, holder_id=holder_id,
            beneficiary_id=person.id, month=month, hours=amount, route=route,
            contract_type=contract, contract_start=start, structure_id=structure,
        )  # fmt: skip

    hours(p1, date(2026, 1, 1), 100, "embauche_directe", "cdi", date(2026, 1, 5))
    hours(p1, date(2026, 2, 1), 120, "embauche_directe", "cdi", date(2026, 1, 5))
    hours(p2, date(2026, 1, 1), 80, "embauche_directe", "cdd", date(2026, 1, 10))
    hours(p3, date(2026, 2, 1), 50, "etti", "interim", date(2026, 2, 1), etti.id)
    hours(p3, date(2026, 3, 1), 60, "etti", "interim", date(2026, 2, 1), etti.id)
    hours(p4, date(2026, 2, 1), 40, "etti", "interim", date(2026, 2, 1), etti.id)
    hours(p5, date(2026, 2, 1), 30, "embauche_directe", "cdd", date(2026, 2, 1))
    for person, start, end, kind in (
        (p2, date(2026, 1, 10), date(2026, 1, 31), "cdi"),
        (p4, date(2026, 2, 1), date(2026, 2, 28), "recherche_emploi"),
        (p3, date(2026, 2, 1), date(2026, 3, 31), "cdd_6_mois_plus"),
    ):
        execution.record_outcome(
            session=session, actor=fac, marche_id=m.id, beneficiary_id=person.id,
            contract_start=start, contract_end=end, kind=kind,
        )  # fmt: skip
    session.flush()
    return m, buyer, fac


def _cells(groups):
    return {g.key: (g.people, g.hours) for g in groups}


def test_figures_by_hand(session):
    m, _, fac = _data(session)
    bilan = service.get_bilan(session=session, actor=fac, marche_id=m.id)
    assert bilan.audience == "facilitation"
    assert (bilan.target, bilan.delivered, bilan.flagged) == (1000, 450, 30)
    assert bilan.people == 4 and bilan.contracts == 4
    assert _cells(bilan.by_route) == {"embauche_directe": (2, 300), "etti": (2, 150)}
    assert _cells(bilan.by_public) == {
        "rsa": (2, 300), "rqth": (1, 80), "jeune_peu_qualifie": (1, 110), "deld": (1, 40),
    }  # fmt: skip
    assert _cells(bilan.by_sex) == {"F": (1, None), "H": (3, None)}
    assert [(g.label, g.people) for g in bilan.by_age] == [
        ("moins de 26 ans", 1), ("26 à 49 ans", 2), ("50 ans et plus", 1),
    ]  # fmt: skip
    assert {g.key: g.people for g in bilan.by_contract_type} == {"cdi": 1, "cdd": 1, "interim": 2}
    # Lengths in days: 55 (to the end of the last month), 22, 59, 28 → 164 / 4 / 30.4375.
    assert bilan.average_contract_months == Decimal("1.3")
    assert (bilan.outcomes_total, bilan.durable, bilan.durable_share) == (3, 2, Decimal("0.667"))
    assert [(h.target, h.delivered) for h in bilan.holders] == [(1000, 450)]
    assert len(bilan.detail) == 4 and all(p.pseudonym.startswith("B-") for p in bilan.detail)
    assert sorted(p.hours for p in bilan.detail) == [40, 80, 110, 220]


def test_buyer_gets_suppressed_aggregates(session):
    m, buyer, _ = _data(session)
    bilan = service.get_bilan(session=session, actor=f.buyer_actor(buyer), marche_id=m.id)
    assert bilan.audience == "acheteur" and bilan.detail is None
    assert (bilan.delivered, bilan.people, bilan.contracts) == (450, 4, 4)
    # One woman: "< 3"; the 3 men are hidden too, else 4 − 3 would give her away.
    assert _cells(bilan.by_sex) == {"F": ("< 3", None), "H": ("s", None)}
    assert _cells(bilan.by_route) == {"embauche_directe": ("< 3", "< 3"), "etti": ("< 3", "< 3")}
    assert bilan.durable == "< 3" and bilan.outcomes_total == 3


@pytest.mark.parametrize(
    ("people", "marks", "total_hidden"),
    [
        ([10, 5], {}, False),
        ([2, 10], {0: "< 3", 1: "s"}, False),
        ([1, 1, 7, 9], {0: "< 3", 1: "< 3", 2: "s"}, False),
        ([1, 2, 9], {0: "< 3", 1: "< 3"}, False),
        ([2], {0: "< 3"}, True),
    ],
)
def test_suppression_rule(people, marks, total_hidden):
    assert hidden(people) == (marks, total_hidden)


def test_exports_parse_back_without_names(session):
    m, buyer, fac = _data(session)
    buyer_actor = f.buyer_actor(buyer)
    text = exports.export_bilan(session=session, actor=buyer_actor, marche_id=m.id, fmt="csv")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Bilan du marché M-2027-001"]
    assert ["Heures d'insertion réalisées", "450"] in rows
    assert ["Femme", "< 3"] in rows and ["Homme", "s"] in rows
    for fmt in ("csv", "xlsx", "pdf"):
        data = exports.export_bilan(session=session, actor=fac, marche_id=m.id, fmt=fmt)
        for name in (b"Aline", b"Bruno", b"Karim", b"Benali"):
            assert name not in data
    book = load_workbook(io.BytesIO(exports.export_bilan(
        session=session, actor=fac, marche_id=m.id, fmt="xlsx"
    )))  # fmt: skip
    assert book["Synthèse"]["A1"].value == "Bilan du marché M-2027-001"
    detail = book[book.sheetnames[-1]]
    cells = " ".join(str(v) for ws in book for r in ws.iter_rows(values_only=True) for v in r)
    assert "Aline" not in cells and "Benali" not in cells
    assert [r[0] for r in detail.iter_rows(min_row=3, values_only=True)][0].startswith("B-")
    values = [r for r in book[book.sheetnames[2]].iter_rows(values_only=True)]
    assert values[2:] == [("Embauche directe", 2, 300), ("Mise à disposition par une ETTI", 2, 150)]
    pdf = exports.export_bilan(session=session, actor=buyer_actor, marche_id=m.id, fmt="pdf")
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    content = "\n".join(page.extract_text() for page in reader.pages)
    assert "M-2027-001" in content and "Bénéficiaires par âge" in content
    assert "Très bonne implication" in content and "B-" not in content
    for name in ("Aline", "Bruno", "Karim", "Benali"):
        assert name not in content


def test_scoping(session):
    m, _, _ = _data(session)
    other = f.buyer(session, name="Ville d'Évry")
    with pytest.raises(Forbidden):
        service.get_bilan(session=session, actor=f.buyer_actor(other), marche_id=m.id)
    with pytest.raises(FormInvalid):
        exports.export_bilan(session=session, actor=f.ADMIN, marche_id=m.id, fmt="docx")
    elsewhere = f.territory(session, code="ESSONNE", name="Essonne")
    with pytest.raises(Forbidden):
        exports.export_bilan(
            session=session, actor=f.facilitator(elsewhere), marche_id=m.id, fmt="pdf"
        )
