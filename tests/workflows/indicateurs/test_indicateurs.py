"""Indicators per territory, buyer and period against objectives; the committee pack."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from tests.workflows import factories as f
from workflows.access import Forbidden
from workflows.execution import service as execution
from workflows.indicateurs import exports, service

YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def _data(session):
    territory = f.territory(session)
    other_territory = f.territory(session, code="ESSONNE", name="Essonne")
    b1, b2 = f.buyer(session), f.buyer(session, name="Département du Val-de-Marne")
    fac = f.facilitator(territory, other_territory)
    marches = {}
    for ref, buyer, where, disposition, on in (
        ("M1", b1, territory, "clause_insertion", date(2026, 1, 1)),
        ("M2", b2, territory, "clause_et_critere", date(2026, 3, 1)),
        ("M3", b1, territory, "aucune", date(2026, 2, 1)),
        ("M4", b1, other_territory, "clause_insertion", date(2026, 1, 1)),
    ):
        m = f.marche(session, buyer_id=buyer.id, territory_id=where.id, reference=ref)
        m.disposition = disposition
        f.notified(session, m, on=on)
        marches[ref] = m
    holder_id = f.marches.get_holders(session=session, marche_id=marches["M1"].id)[0][0].id
    p1 = f.person(session, fac, territory.id, sex="F", eligible_on=date(2025, 11, 1))
    p2 = f.person(session, fac, territory.id, kind="deld")
    p3 = f.person(session, fac, territory.id, sex="F")
    late = f.person(session, fac, territory.id, eligible_on=date(2026, 6, 1))

    def hours(ref, person, month, amount, start):
        execution.record_hours(
            session=session, actor=fac, marche_id=marches[ref].id, holder_id=holder_id,
            beneficiary_id=person.id, month=month, hours=amount, route="embauche_directe",
            contract_type="cdd", contract_start=start,
        )  # fmt: skip

    hours("M1", p1, date(2025, 12, 1), 500, date(2025, 12, 1))  # before the period
    hours("M1", p1, date(2026, 1, 1), 100, date(2026, 1, 5))
    hours("M1", p1, date(2026, 2, 1), 100, date(2026, 1, 5))
    hours("M1", p2, date(2026, 2, 1), 50, date(2026, 2, 1))
    hours("M2", p3, date(2026, 3, 1), 70, date(2026, 3, 1))
    hours("M2", p2, date(2026, 3, 1), 30, date(2026, 3, 1))
    hours("M2", late, date(2026, 3, 1), 99, date(2026, 3, 1))  # not counted
    hours("M4", p2, date(2026, 4, 1), 10, date(2026, 4, 1))  # another territory
    for person, start, end, kind in (
        (p1, date(2026, 1, 5), date(2026, 4, 4), "cdi"),  # 90 days
        (p2, date(2026, 2, 1), date(2026, 3, 2), "recherche_emploi"),  # 30 days
    ):
        execution.record_outcome(
            session=session, actor=fac, marche_id=marches["M1"].id, beneficiary_id=person.id,
            contract_start=start, contract_end=end, kind=kind,
        )  # fmt: skip
    service.seed_essonne_objectives(
        session=session, actor=f.ADMIN, territory_id=territory.id, period=YEAR
    )
    session.flush()
    return territory, fac, b1, b2


def test_territory_indicators_against_objectives(session):
    territory, fac, *_ = _data(session)
    result = service.compute(
        session=session, actor=fac, territory_id=territory.id,
        period_start=YEAR[0], period_end=YEAR[1],
    )  # fmt: skip
    values = {line.indicator: line.value for line in result.lines}
    assert values == {
        "heures": 350,
        "beneficiaires": 3,
        "acheteurs": 2,
        "operations": 2,
        "duree_moyenne_contrat_mois": Decimal("2.0"),  # (90 + 30) / 2 days / 30.4375
        "part_sorties_durables": Decimal("0.5"),
        "part_femmes": Decimal("0.667"),
        "beneficiaires_rsa": 2,
    }
    lines = {line.indicator: line for line in result.lines}
    assert lines["heures"].target == 2_000_000 and lines["heures"].reached is False
    assert (
        lines["part_sorties_durables"].achievement == 2 and lines["part_sorties_durables"].reached
    )
    assert lines["beneficiaires_rsa"].target is None and lines["beneficiaires_rsa"].reached is None
    assert result.by_buyer == [
        ("Ville de Créteil", 1, 250),
        ("Département du Val-de-Marne", 1, 100),
    ]
    first_quarter = service.compute(
        session=session, actor=fac, territory_id=territory.id,
        period_start=date(2026, 1, 1), period_end=date(2026, 2, 28),
    )  # fmt: skip
    assert first_quarter.value("heures") == 250 and first_quarter.value("operations") == 1


def test_buyer_scope(session):
    territory, fac, b1, b2 = _data(session)
    buyer = f.buyer_actor(b1)
    mine = service.compute(session=session, actor=buyer, period_start=YEAR[0], period_end=YEAR[1])
    assert mine.buyer_id == b1.id and mine.value("heures") == 260  # M1 and M4
    with pytest.raises(Forbidden):
        service.compute(
            session=session, actor=buyer, buyer_id=b2.id, period_start=YEAR[0], period_end=YEAR[1]
        )
    stranger = f.facilitator(f.territory(session, code="PACA", name="Aix-Marseille"))
    with pytest.raises(Forbidden):
        service.compute(
            session=session, actor=stranger, territory_id=territory.id,
            period_start=YEAR[0], period_end=YEAR[1],
        )  # fmt: skip


def test_committee_pack_exports(session):
    territory, fac, *_ = _data(session)
    pdf = exports.export_pack(session=session, actor=fac, territory_id=territory.id, fmt="pdf")
    assert pdf.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Comité de pilotage" in text and "Heures d'insertion générées" in text
    assert "01/01/2026" in text  # the objectives' period, by default
    data = exports.export_pack(
        session=session, actor=fac, territory_id=territory.id, fmt="csv",
        committee="comite_technique",
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0].startswith("Comité technique")
    assert ["Heures d'insertion générées", "350", "2\u00a0000\u00a0000", "0 %"] in rows
    assert ["Ville de Créteil", "1", "250"] in rows
    # 2 RSA recipients out of 3 people, 2 women out of 3: small groups, not shown.
    assert ["Nombre d'allocataires du RSA bénéficiaires", "< 3", "", ""] in rows
    assert ["Part de femmes parmi les bénéficiaires", "s", "50 %", ""] in rows
    assert ["Nombre de bénéficiaires", "3", "3\u00a0500", "0,1 %"] in rows
