"""Small-group suppression for the figures buyers and committees receive.

Rule (statistical confidentiality, applied to every breakdown of people shown to a buyer):

1. Primary: a cell that concerns 1 or 2 people (fewer than THRESHOLD) is not shown: its count
   and its hours read "< 3".
2. Secondary: a breakdown adds up to a total that is shown, so a lone hidden cell could be
   recomputed by subtraction. While a breakdown has hidden cells and either only one of them or
   fewer than THRESHOLD people behind them all, the shown cell with the fewest people is hidden
   too (it reads "s", for secret). Then only the sum of the hidden cells can be recomputed, and
   it covers at least THRESHOLD people split over at least two cells.
3. If the breakdown has no cell left to hide, the breakdown's total (people) is hidden as well.

Empty cells (nobody) are not listed. Contractual figures — hours planned and delivered for the
whole marché and per holder — are always shown: the holder owes them to the buyer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

THRESHOLD = 3
SMALL = "< 3"
SECRET = "s"
RULE = (
    "Secret statistique : un groupe de moins de 3 personnes est affiché « < 3 » ; pour qu'il ne "
    "puisse pas être retrouvé par différence avec le total, la case voisine la plus petite est "
    "masquée aussi (« s »). Les heures du marché et de chaque titulaire restent affichées."
)


@dataclass(frozen=True)
class Group:
    """One cell of a breakdown: people (distinct persons) and, if relevant, their hours."""

    key: str
    label: str
    people: int | str
    hours: Decimal | str | None = None


def hidden(people: Sequence[int], threshold: int = THRESHOLD) -> tuple[dict[int, str], bool]:
    """(row index → mark, whether the total must be hidden too) for one breakdown."""
    marks = {i: SMALL for i, n in enumerate(people) if 0 < n < threshold}
    if not marks:
        return {}, False
    others = sorted((i for i in range(len(people)) if i not in marks), key=lambda i: people[i])
    while len(marks) < 2 or sum(people[i] for i in marks) < threshold:
        if not others:
            return marks, True
        marks[others.pop(0)] = SECRET
    return marks, False


def protect(groups: Sequence[Group], threshold: int = THRESHOLD) -> tuple[list[Group], bool]:
    """The breakdown with its small (and complementary) cells masked, and the total-hidden flag."""
    marks, total_hidden = hidden([int(g.people) for g in groups], threshold)
    shown = [
        replace(g, people=marks[i], hours=marks[i] if g.hours is not None else None)
        if i in marks
        else g
        for i, g in enumerate(groups)
    ]
    return shown, total_hidden


def count(value: int, threshold: int = THRESHOLD) -> int | str:
    """A head count as shown to a buyer: "< 3" when small."""
    return SMALL if 0 < value < threshold else value
