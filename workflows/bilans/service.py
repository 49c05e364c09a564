"""The bilan of a marché: hours planned vs delivered, people, contracts, outcomes, the text.

Definitions. Hours are the counted hours (eligibility validated in time); flagged hours are
reported apart. The people of a bilan are the beneficiaries with counted hours on the marché.
A contract is one (beneficiary, holder, contract start) of the hours records; its length is
start → end from the outcome recorded for it, else start → end of the last month reported, in
months of 30.44 days. A durable outcome is a CDI or a CDD of 6 months or more (DURABLE_OUTCOMES).
Hours per public category: the counted hours of the people holding that eligibility criterion (a
person with two criteria counts in both rows, so these rows do not add up to the total).

Audience. Buyers get aggregates only, small groups suppressed (see suppression.py), never names
nor pseudonyms. Facilitators, coordinators and admins get the same figures unsuppressed plus one
line per beneficiary by pseudonym (never names); each person listed goes into the access log.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.beneficiaires.models import AGE_BANDS, CRITERIA, SEXES, Beneficiary
from workflows.beneficiaires.models import EligibilityCriterion as Criterion
from workflows.execution import progress as execution_progress
from workflows.execution.models import (
    CONTRACT_TYPES,
    DURABLE_OUTCOMES,
    OUTCOME_KINDS,
    ROUTES,
    HoursRecord,
    Outcome,
)
from workflows.marches import service as marches
from workflows.marches.models import DISPOSITIONS
from workflows.referentiel.models import Organisation, Territory
from workflows.rgpd import service as rgpd
from workflows.values import end_of_month

from .suppression import Group, count, protect

DAYS_PER_MONTH = Decimal("30.4375")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class HolderLine:
    label: str
    target: Decimal | None
    delivered: Decimal


@dataclass(frozen=True)
class PersonLine:
    """One beneficiary in a facilitator's bilan: pseudonym only."""

    pseudonym: str
    sex: str | None
    age_band: str | None
    criteria: str
    hours: Decimal
    contracts: str
    outcomes: str


@dataclass
class Bilan:
    audience: str  # "acheteur" (suppressed aggregates) or "facilitation"
    reference: str
    subject: str
    buyer: str
    territory: str
    disposition: str | None
    period: tuple[date, date] | None
    target: Decimal | None
    delivered: Decimal
    flagged: Decimal
    people: int | str
    contracts: int | str
    average_contract_months: Decimal | None
    outcomes_total: int | str
    durable: int | str
    text: str | None
    holders: list[HolderLine] = field(default_factory=list)
    by_route: list[Group] = field(default_factory=list)
    by_public: list[Group] = field(default_factory=list)
    by_sex: list[Group] = field(default_factory=list)
    by_age: list[Group] = field(default_factory=list)
    by_contract_type: list[Group] = field(default_factory=list)
    by_outcome: list[Group] = field(default_factory=list)
    detail: list[PersonLine] | None = None

    @property
    def durable_share(self) -> Decimal | None:
        """Durable outcomes over all outcomes, when both are shown."""
        if isinstance(self.durable, str) or isinstance(self.outcomes_total, str):
            return None
        if not self.outcomes_total:
            return None
        return (Decimal(self.durable) / Decimal(self.outcomes_total)).quantize(Decimal("0.001"))


def audience(actor: Actor) -> str:
    """Buyers get the suppressed aggregates; the facilitation side and admins the full bilan."""
    return "acheteur" if actor.role == "acheteur" else "facilitation"


def _months(start: date, end: date) -> Decimal:
    return Decimal((end - start).days + 1) / DAYS_PER_MONTH


def _groups(people: dict[str, set[int]], labels: dict, hours: dict | None = None) -> list[Group]:
    order = list(labels) + sorted(k for k in people if k not in labels)
    return [
        Group(
            key=key,
            label=labels.get(key, "Non renseigné"),
            people=len(people[key]),
            hours=hours.get(key, Decimal(0)) if hours is not None else None,
        )
        for key in order
        if people.get(key)
    ]


def get_bilan(*, session: Session, actor: Actor, marche_id: int) -> Bilan:
    """The marché's bilan as the actor may see it (buyers: small groups suppressed)."""
    marche = marches.get(session=session, actor=actor, marche_id=marche_id)
    progress = execution_progress.progress(session=session, actor=actor, marche_id=marche.id)
    records = session.execute(
        select(
            HoursRecord.beneficiary_id,
            HoursRecord.holder_id,
            HoursRecord.route,
            HoursRecord.contract_type,
            HoursRecord.contract_start,
            HoursRecord.month,
            HoursRecord.hours,
        ).where(HoursRecord.marche_id == marche.id, HoursRecord.counted.is_(True))
    ).all()
    outcomes = session.execute(
        select(Outcome.beneficiary_id, Outcome.contract_start, Outcome.contract_end, Outcome.kind)
        .where(Outcome.marche_id == marche.id)
        .order_by(Outcome.contract_end)
    ).all()
    ids = {r.beneficiary_id for r in records}
    persons = {
        p.id: p
        for p in session.execute(
            select(Beneficiary.id, Beneficiary.pseudonym, Beneficiary.sex, Beneficiary.age_band)
            .where(Beneficiary.id.in_(ids))
        )
    }  # fmt: skip
    kinds: dict[int, set[str]] = defaultdict(set)
    for bid, kind in session.execute(
        select(Criterion.beneficiary_id, Criterion.kind).where(Criterion.beneficiary_id.in_(ids))
    ):
        kinds[bid].add(kind)

    route_people, route_hours = defaultdict(set), defaultdict(Decimal)
    person_hours: dict[int, Decimal] = defaultdict(Decimal)
    contracts: dict[tuple, dict] = {}
    for r in records:
        route_people[r.route].add(r.beneficiary_id)
        route_hours[r.route] += r.hours
        person_hours[r.beneficiary_id] += r.hours
        key = (r.beneficiary_id, r.holder_id, r.contract_start)
        contract = contracts.setdefault(key, {"type": r.contract_type, "last": r.month})
        contract["last"] = max(contract["last"], r.month)
    ends = {(o.beneficiary_id, o.contract_start): o.contract_end for o in outcomes}
    lengths = []
    type_people: dict[str, set[int]] = defaultdict(set)
    for (bid, _holder, start), contract in contracts.items():
        end = ends.get((bid, start)) or end_of_month(contract["last"])
        lengths.append(_months(start, end))
        type_people[contract["type"]].add(bid)

    public_people, public_hours = defaultdict(set), defaultdict(Decimal)
    sex_people, age_people = defaultdict(set), defaultdict(set)
    for bid in ids:
        person = persons[bid]
        sex_people[person.sex or "?"].add(bid)
        age_people[person.age_band or "?"].add(bid)
        for kind in kinds.get(bid, ()):
            public_people[kind].add(bid)
            public_hours[kind] += person_hours[bid]
    outcome_people = defaultdict(set)
    for o in outcomes:
        outcome_people[o.kind].add(o.beneficiary_id)

    buyer = session.get(Organisation, marche.buyer_id)
    territory = session.get(Territory, marche.territory_id)
    average = (sum(lengths, Decimal(0)) / len(lengths)).quantize(TENTH) if lengths else None
    bilan = Bilan(
        audience=audience(actor),
        reference=marche.reference,
        subject=marche.subject,
        buyer=buyer.name if buyer else "",
        territory=territory.name if territory else "",
        disposition=DISPOSITIONS.get(marche.disposition or "", None),
        period=progress.period,
        target=progress.target,
        delivered=progress.delivered,
        flagged=progress.flagged,
        people=len(ids),
        contracts=len(contracts),
        average_contract_months=average,
        outcomes_total=len(outcomes),
        durable=sum(1 for o in outcomes if o.kind in DURABLE_OUTCOMES),
        text=marche.bilan_text,
        holders=[HolderLine(h.label, h.target, h.delivered) for h in progress.by_holder],
        by_route=_groups(route_people, ROUTES, route_hours),
        by_public=_groups(public_people, CRITERIA, public_hours),
        by_sex=_groups(sex_people, SEXES),
        by_age=_groups(age_people, dict(zip(AGE_BANDS, AGE_BANDS, strict=True))),
        by_contract_type=_groups(type_people, CONTRACT_TYPES),
        by_outcome=_groups(outcome_people, OUTCOME_KINDS),
    )
    if bilan.audience == "acheteur":
        return _suppressed(bilan)
    bilan.detail = _detail(session, actor, persons, kinds, person_hours, contracts, outcomes)
    return bilan


def _suppressed(bilan: Bilan) -> Bilan:
    """The buyer's version: every breakdown of people protected, small totals hidden."""
    hide_total = False
    for name in ("by_route", "by_public", "by_sex", "by_age", "by_contract_type", "by_outcome"):
        groups, total_hidden = protect(getattr(bilan, name))
        setattr(bilan, name, groups)
        hide_total = hide_total or (total_hidden and name != "by_public")
    people = int(bilan.people)
    bilan.people = "< 3" if hide_total and people else count(people)
    bilan.contracts = count(int(bilan.contracts)) if people >= 3 else bilan.people
    bilan.outcomes_total = count(int(bilan.outcomes_total))
    durable, total = int(bilan.durable), bilan.outcomes_total
    # The non-durable rest is total − durable: both sides must be 3 or more to show either.
    if isinstance(total, str) or durable and (durable < 3 or int(total) - durable < 3):
        bilan.durable = "< 3" if 0 < durable < 3 else "s"
    if isinstance(bilan.people, str) or people < 3:
        bilan.average_contract_months = None
    return bilan


def _detail(session, actor, persons, kinds, person_hours, contracts, outcomes) -> list[PersonLine]:
    """One line per beneficiary, by pseudonym; each listing goes into the access log."""
    types: dict[int, list[str]] = defaultdict(list)
    for (bid, _holder, start), contract in sorted(contracts.items(), key=lambda i: i[0][2]):
        types[bid].append(f"{CONTRACT_TYPES.get(contract['type'], contract['type'])} {start:%m/%Y}")
    ends: dict[int, list[str]] = defaultdict(list)
    for o in outcomes:
        ends[o.beneficiary_id].append(OUTCOME_KINDS.get(o.kind, o.kind))
    lines = []
    for bid in sorted(persons, key=lambda b: persons[b].pseudonym):
        person = persons[bid]
        rgpd.log(session=session, actor=actor, beneficiary_id=bid, action="bilan")
        lines.append(
            PersonLine(
                pseudonym=person.pseudonym,
                sex=person.sex,
                age_band=person.age_band,
                criteria=", ".join(sorted(kinds.get(bid, ()))),
                hours=person_hours[bid],
                contracts=" ; ".join(types[bid]),
                outcomes=" ; ".join(ends[bid]),
            )
        )
    session.flush()
    return lines
