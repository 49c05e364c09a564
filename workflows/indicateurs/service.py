"""Charter indicators (Essonne art. 3) per territory, buyer and period, against objectives.

Scope: the marchés led by the territory (a marché spanning several territories counts once, in
its lead territory), optionally of one buyer; a buyer only ever sees its own marchés. Definitions
over the period [start, end]:

- heures: counted hours of the hours records whose month falls in the period;
- beneficiaires: distinct people with counted hours in the period (part_femmes: share of women
  among those whose sex is known; beneficiaires_rsa: those holding the RSA criterion);
- operations: marchés with a social disposition (not « aucune ») notified in the period or with
  hours in it; acheteurs: their distinct buyers;
- duree_moyenne_contrat_mois: mean length (end − start, in months of 30.44 days) of the contracts
  whose outcome was recorded with an end in the period;
- part_sorties_durables: CDI and CDD of 6 months or more over all those outcomes.

Every figure is one SQL aggregate; the hours records are read through the covering index
ix_hours_record_indicators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, and_, case, distinct, exists, func, or_, select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.beneficiaires.models import Beneficiary, EligibilityCriterion
from workflows.execution.models import DURABLE_OUTCOMES, HoursRecord, Outcome
from workflows.gouvernance import service as gouvernance
from workflows.gouvernance.models import INDICATORS
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Organisation
from workflows.values import first_of_month, invalid, to_date

DAYS_PER_MONTH = Decimal("30.4375")
RATIOS = ("duree_moyenne_contrat_mois", "part_sorties_durables", "part_femmes")

# Essonne charter 2018-2020 (seed 001, art. 3): baselines 2015-2017 were 1 000 000 h, 2 135
# people, 130 buyers, 365 operations, contracts of 2 months, 1 durable outcome in 4, a majority
# of men. Targets: 2 000 000 h, 3 500 people, +15 % buyers and operations (150, 420), +50 % on the
# mean contract length (3 months), keep 1 in 4 durable, equal access (half women: practice).
ESSONNE_2018_2020 = {
    "heures": Decimal(2_000_000),
    "beneficiaires": Decimal(3_500),
    "acheteurs": Decimal(150),
    "operations": Decimal(420),
    "duree_moyenne_contrat_mois": Decimal(3),
    "part_sorties_durables": Decimal("0.25"),
    "part_femmes": Decimal("0.5"),
}
ESSONNE_PERIOD = (date(2018, 1, 1), date(2020, 12, 31))


@dataclass(frozen=True)
class Line:
    """One indicator: its value, the objective of the period if any, and where it stands."""

    indicator: str
    label: str
    value: Decimal | None
    target: Decimal | None = None

    @property
    def achievement(self) -> Decimal | None:
        """Value over target (1 = reached)."""
        if self.value is None or not self.target:
            return None
        return (self.value / self.target).quantize(Decimal("0.001"))

    @property
    def reached(self) -> bool | None:
        """Whether the objective is met (None without objective or value)."""
        return None if self.achievement is None else self.achievement >= 1


@dataclass
class Indicators:
    territory_id: int | None
    buyer_id: int | None
    period: tuple[date, date]
    lines: list[Line]
    by_buyer: list[tuple[str, int, Decimal]] = field(default_factory=list)

    def value(self, indicator: str) -> Decimal | None:
        """The value of one indicator."""
        return next(line.value for line in self.lines if line.indicator == indicator)


def _scope(actor: Actor, territory_id: int | None, buyer_id: int | None) -> int | None:
    """Check the actor's right to the scope; a buyer is always narrowed to its organisation."""
    if actor.role == "acheteur":
        require(actor.organisation_id is not None, "Compte acheteur sans organisation.")
        require(buyer_id in (None, actor.organisation_id), "Indicateurs d'un autre acheteur.")
        return actor.organisation_id
    if territory_id is None:
        require(actor.is_admin, "Précisez un de vos territoires.")
    else:
        require(actor.covers([territory_id]), "Ce territoire n'est pas le vôtre.")
    return buyer_id


def _marches(territory_id: int | None, buyer_id: int | None) -> Select:
    query = select(Marche.id)
    if territory_id is not None:
        query = query.where(Marche.territory_id == territory_id)
    if buyer_id is not None:
        query = query.where(Marche.buyer_id == buyer_id)
    return query


def _hours_where(marches: Select, start: date, end: date):
    return and_(
        HoursRecord.marche_id.in_(marches),
        HoursRecord.month >= first_of_month(start),
        HoursRecord.month <= end,
        HoursRecord.counted.is_(True),
    )


def _contract_days(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return Outcome.contract_end - Outcome.contract_start + 1
    return func.julianday(Outcome.contract_end) - func.julianday(Outcome.contract_start) + 1


def compute(
    *,
    session: Session,
    actor: Actor,
    period_start: object,
    period_end: object,
    territory_id: int | None = None,
    buyer_id: int | None = None,
) -> Indicators:
    """The charter indicators of the scope over the period, with the territory's objectives."""
    start, end = to_date(period_start, "period_start"), to_date(period_end, "period_end")
    if end < start:
        raise invalid("period_end", "la fin de période précède son début")
    if territory_id is not None:
        referentiel.get_territory(session=session, territory_id=territory_id)
    buyer_id = _scope(actor, territory_id, buyer_id)
    marches = _marches(territory_id, buyer_id)
    where = _hours_where(marches, start, end)
    by_buyer = _by_buyer(session, where)
    hours = sum((h for _, _, h in by_buyer), Decimal(0))
    people = select(HoursRecord.beneficiary_id).where(where)
    rsa = exists().where(
        EligibilityCriterion.beneficiary_id == Beneficiary.id, EligibilityCriterion.kind == "rsa"
    )
    total, women, known, with_rsa = session.execute(
        select(
            func.count(),
            func.count(case((Beneficiary.sex == "F", 1))),
            func.count(Beneficiary.sex),
            func.count(case((rsa, 1))),
        ).where(Beneficiary.id.in_(people))
    ).one()
    operations, buyers = session.execute(
        select(func.count(), func.count(distinct(Marche.buyer_id))).where(
            Marche.id.in_(marches),
            Marche.disposition.is_not(None),
            Marche.disposition != "aucune",
            or_(
                Marche.notification_date.between(start, end),
                exists().where(HoursRecord.marche_id == Marche.id, where),
            ),
        )
    ).one()
    outcomes, durable, days = session.execute(
        select(
            func.count(),
            func.count(case((Outcome.kind.in_(sorted(DURABLE_OUTCOMES)), 1))),
            func.avg(_contract_days(session)),
        ).where(Outcome.marche_id.in_(marches), Outcome.contract_end.between(start, end))
    ).one()
    values = {
        "heures": Decimal(hours),
        "beneficiaires": Decimal(total),
        "acheteurs": Decimal(buyers),
        "operations": Decimal(operations),
        "duree_moyenne_contrat_mois": (
            (Decimal(str(days)) / DAYS_PER_MONTH).quantize(Decimal("0.1")) if days else None
        ),
        "part_sorties_durables": _share(durable, outcomes),
        "part_femmes": _share(women, known),
        "beneficiaires_rsa": Decimal(with_rsa),
    }
    targets = _targets(session, territory_id, start, end)
    lines = [Line(k, INDICATORS[k], values[k], targets.get(k)) for k in INDICATORS]
    return Indicators(territory_id, buyer_id, (start, end), lines, by_buyer)


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001")) if whole else None


def _targets(session: Session, territory_id: int | None, start: date, end: date) -> dict:
    """The objectives of the territory's period that contains the end of the asked period."""
    if territory_id is None:
        return {}
    found = gouvernance.get_objectives(session=session, territory_id=territory_id, on=end)
    return {o.indicator: o.target for o in found}


def _by_buyer(session: Session, where) -> list[tuple[str, int, Decimal]]:
    """(buyer, operations with hours, counted hours), most hours first.

    Summed per marché first: that GROUP BY follows the index order (no sort, no join per row).
    """
    per_marche = (
        select(HoursRecord.marche_id, func.sum(HoursRecord.hours).label("hours"))
        .where(where)
        .group_by(HoursRecord.marche_id)
        .subquery()
    )
    rows = session.execute(
        select(Organisation.name, func.count(), func.sum(per_marche.c.hours))
        .select_from(per_marche)
        .join(Marche, Marche.id == per_marche.c.marche_id)
        .join(Organisation, Organisation.id == Marche.buyer_id)
        .group_by(Organisation.id, Organisation.name)
        .order_by(func.sum(per_marche.c.hours).desc(), Organisation.name)
    )
    return [(name, operations, Decimal(h or 0)) for name, operations, h in rows]


def seed_essonne_objectives(
    *, session: Session, actor: Actor, territory_id: int, period: tuple[date, date] | None = None
) -> int:
    """Set the Essonne 2018-2020 charter targets on a territory (the period can be moved)."""
    start, end = period or ESSONNE_PERIOD
    for indicator, target in ESSONNE_2018_2020.items():
        gouvernance.set_objective(
            session=session, actor=actor, territory_id=territory_id, indicator=indicator,
            period_start=start, period_end=end, target=target,
        )  # fmt: skip
    return len(ESSONNE_2018_2020)
