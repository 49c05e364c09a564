"""People and a marché in one territory, for the notification tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tests.conftest import BPMN_DIR
from tests.workflows import factories
from workflows.accounts import service as accounts
from workflows.engine import timers
from workflows.engine.deploy import deploy, read_files
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel

ADMIN = factories.ADMIN


def send_notices(session, settings=None) -> int:
    """What the scheduler's notices job does at each poll: the owed notices become rows."""
    from notifications import queue
    from notifications.settings import Settings

    return queue.drain(session, settings or Settings())


class Clock:
    now = datetime(2027, 5, 3, 6, 0, tzinfo=UTC)

    @classmethod
    def freeze(cls, at: datetime) -> None:
        cls.now = at
        timers.set_clock(lambda: cls.now)


@dataclass
class World:
    marche: Marche
    territory_id: int


def deploy_lifecycle(session) -> None:
    names = ["marche_clause_sociale.bpmn", "part_main_oeuvre.dmn", "disposition_sociale.dmn"]
    deploy(session=session, files=read_files([BPMN_DIR / n for n in names]))


def world(session, *, departement: str = "94", code: str = "GPSEA") -> World:
    """A buyer with one user, a territory (one facilitator, one coordinator) and a marché."""
    territory = factories.territory(
        session, code=code, areas=[("departement", departement, f"Département {departement}")]
    )
    buyer = factories.buyer(session, name=f"Ville {code}")
    accounts.create(
        session=session,
        login=f"acheteur-{code}",
        role="acheteur",
        organisation_id=buyer.id,
        email=f"acheteur-{code}@example.org",
        full_name="Alice Acheteuse",
    )
    accounts.create(
        session=session,
        login=f"facil-{code}",
        role="facilitateur",
        territory_ids=[territory.id],
        email=f"facil-{code}@example.org",
        full_name="Fabien Facilitateur",
    )
    coordinator = referentiel.create_facilitator(
        session=session, actor=ADMIN, login=f"coord-{code}", full_name="Colette Coordinatrice"
    )
    territory.coordinator_id = coordinator.id
    accounts.create(
        session=session,
        login=f"coord-{code}",
        role="coordinateur",
        territory_ids=[territory.id],
        email=f"coord-{code}@example.org",
        full_name="Colette Coordinatrice",
    )
    marche = factories.marche(
        session,
        buyer_id=buyer.id,
        territory_id=territory.id,
        reference=f"M-{code}",
        start_process=True,
    )
    session.flush()
    return World(marche, territory.id)
