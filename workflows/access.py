"""Who is asking: the actor every scoped service takes, and the refusal it raises.

Scoping is enforced in the services, never in views: a buyer (acheteur) sees its organisation's
marchés; a facilitator or coordinator those of its territories; an admin everything. Beneficiary
records (personal data) are for the facilitators and coordinators of the territories concerned,
and admins: never for buyers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from workflows.engine.errors import EngineError

Role = Literal["acheteur", "facilitateur", "coordinateur", "admin"]
FACILITATION: frozenset[str] = frozenset({"facilitateur", "coordinateur"})


class Forbidden(EngineError):
    """The actor may not see or change this."""

    status = 403


@dataclass(frozen=True)
class Actor:
    login: str
    role: Role
    organisation_id: int | None = None
    territory_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def facilitates(self) -> bool:
        """A facilitator or a coordinator: the people who follow marchés and beneficiaries."""
        return self.role in FACILITATION

    def covers(self, territory_ids: Iterable[int | None]) -> bool:
        """Admin, or facilitator/coordinator of at least one of these territories."""
        if self.is_admin:
            return True
        return self.facilitates and bool(self.territory_ids & {t for t in territory_ids if t})


SYSTEM = Actor(login="system", role="admin")


def require(condition: bool, message: str) -> None:
    """Raise Forbidden with `message` unless `condition` holds."""
    if not condition:
        raise Forbidden(message)


def require_admin_or_coordinator(actor: Actor) -> None:
    """Reference data (territories, charters, structures) is kept by the network level."""
    require(
        actor.role in ("admin", "coordinateur"),
        "Réservé aux administrateurs et aux coordinations.",
    )
