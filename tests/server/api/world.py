"""Two buyers, two territories, every role, a marché each side, a committee, beneficiaries.

`own` is what the first side's accounts may see, `foreign` what belongs to the second side.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select

from tests.conftest import SCENARIOS
from tests.server.test_app import running_app
from tests.workflows.factories import ADMIN, buyer, marche, person, territory
from workflows.accounts import service as accounts
from workflows.engine import runtime
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import HumanTask

PASSWORD = "motdepasse-solide-42"
ROLES = ("acheteur", "facilitateur", "coordinateur", "admin")


@dataclass
class Side:
    territory_id: int
    territory_code: str
    buyer_id: int
    marche_id: int
    marche_ref: str
    instance_id: int
    task_id: str
    committee_id: int
    committee_task_id: str
    beneficiary_id: int
    clause_id: int | None = None


@dataclass
class World:
    own: Side
    foreign: Side
    tokens: dict[str, str] = field(default_factory=dict)  # login -> token

    def auth(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}

    def basic(self, login: str, secret: str | None = None) -> dict[str, str]:
        raw = f"{login}:{secret or self.tokens[login]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _side(s, suffix: str) -> Side:
    t = territory(s, code=f"T{suffix}", name=f"Territoire {suffix}")
    b = buyer(s, name=f"Ville {suffix}")
    m = marche(s, buyer_id=b.id, territory_id=t.id, reference=f"M-{suffix}", start_process=True)
    task = s.scalar(select(HumanTask).where(HumanTask.instance_id == m.instance_id))
    committee = runtime.start(session=s, key="formulaire", business_key=t.code, actor="admin")
    fac = ADMIN.__class__(login="x", role="facilitateur", territory_ids=frozenset({t.id}))
    p = person(s, fac, t.id)
    ctask = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == committee.id))
    return Side(
        t.id,
        t.code,
        b.id,
        m.id,
        m.reference,
        m.instance_id,
        task.id,
        committee.id,
        ctask or "",
        p.id,
    )


def users(s, side: Side, suffix: str, tokens: dict[str, str]) -> None:
    for role in ROLES:
        login = f"{role}{suffix}"
        accounts.create(
            session=s,
            login=login,
            role=role,
            password=PASSWORD,
            organisation_id=side.buyer_id if role == "acheteur" else None,
            territory_ids=[side.territory_id] if role in ("facilitateur", "coordinateur") else [],
        )
        tokens[login] = accounts.create_token(session=s, login=login)[1]


@contextmanager
def world_app(db):
    """A running app with the world stored; yields (app, client, world)."""
    with running_app(db) as app:
        with db.factory() as s:
            deploy(session=s, files=read_files([SCENARIOS / "engine" / "formulaire.bpmn"]))
            own, foreign = _side(s, "1"), _side(s, "2")
            world = World(own, foreign)
            users(s, own, "1", world.tokens)
            users(s, foreign, "2", world.tokens)
            s.commit()
        yield app, app.test_client(), world
