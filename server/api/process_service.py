"""Definitions and instances for the API: the engine's runtime behind scope and role checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import deploy as deployment
from workflows.engine import runtime
from workflows.engine.errors import DiagramError
from workflows.engine.models import Event, HumanTask, Instance, ProcessDefinition

from ..errors import PreconditionFailed
from . import scope

MAX_FILE = 2 * 1024 * 1024


def check_version(instance: Instance, expected: int | None) -> None:
    """412 when the client's If-Match is stale."""
    if expected is not None and expected != instance.lock_version:
        raise PreconditionFailed(
            f"Version {expected} périmée : l'instance {instance.id} est en version "
            f"{instance.lock_version} ; rechargez-la."
        )


def deploy(*, session: Session, actor: Actor, files: dict[str, bytes]) -> list[deployment.Deployed]:
    """Deploy .bpmn/.dmn files (admins only); DiagramError (422) names file and element."""
    require(actor.is_admin, "Le déploiement est réservé aux administrateurs.")
    for name, data in files.items():
        if not name.endswith((".bpmn", ".dmn")):
            raise DiagramError("seuls les fichiers .bpmn et .dmn sont acceptés", file_name=name)
        if len(data) > MAX_FILE:
            raise DiagramError("fichier trop volumineux (2 Mio au plus)", file_name=name)
    return deployment.deploy(session=session, files=files, actor=actor.login)


def definitions(*, session: Session, key: str | None = None, latest_only: bool = True):
    rows = deployment.list_definitions(session=session, latest_only=latest_only and not key)
    return [r for r in rows if key is None or r.key == key]


def definition(*, session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    return deployment.get_definition(session=session, key=key, version=version)


def may_start(session: Session, actor: Actor, business_key: str | None) -> None:
    require(
        actor.is_admin or actor.facilitates,
        "Un acheteur démarre un processus en enregistrant un marché.",
    )
    require(
        scope.may_start(session, actor, business_key),
        "La clé métier doit être le code d'un de vos territoires (ou commencer par « CODE/ »).",
    )


def start(
    *,
    session: Session,
    actor: Actor,
    key: str,
    business_key: str | None,
    variables: dict[str, Any],
    version: int | None = None,
) -> Instance:
    """Start an instance (facilitators, coordinators, admins)."""
    definition(session=session, key=key, version=version)  # 404 first: it says less
    may_start(session, actor, business_key)
    return runtime.start(
        session=session,
        key=key,
        business_key=business_key,
        variables=variables,
        actor=actor.login,
        version=version,
    )


def get(*, session: Session, actor: Actor, instance_id: int) -> Instance:
    return scope.get_instance(session=session, actor=actor, instance_id=instance_id)


def open_tasks(*, session: Session, instance: Instance) -> list[HumanTask]:
    return list(
        session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            .order_by(HumanTask.created_at)
        )
    )


def with_tasks(session: Session, instance: Instance) -> Instance:
    """The instance with its open tasks attached (for InstanceDetailSchema)."""
    instance.tasks = open_tasks(session=session, instance=instance)
    return instance


def history(*, session: Session, actor: Actor, instance_id: int) -> list[Event]:
    get(session=session, actor=actor, instance_id=instance_id)
    return list(
        session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id))
    )


def variables(*, session: Session, actor: Actor, instance_id: int) -> dict[str, Any]:
    get(session=session, actor=actor, instance_id=instance_id)
    return runtime.variables(session=session, instance_id=instance_id)


ACTIONS = {
    "suspend": runtime.suspend,
    "resume": runtime.resume,
    "cancel": runtime.cancel,
    "retry": runtime.retry,
}


def act(
    *,
    session: Session,
    actor: Actor,
    instance_id: int,
    action: str,
    expected_version: int | None = None,
    **options: Any,
) -> Instance:
    """suspend / resume / cancel / retry / migrate: admins and the facilitators who see it."""
    instance = get(session=session, actor=actor, instance_id=instance_id)
    require(actor.is_admin or actor.facilitates, "Réservé aux facilitateurs et administrateurs.")
    check_version(instance, expected_version)
    if action == "migrate":
        return runtime.migrate(
            session=session, instance_id=instance.id, actor=actor.login, **options
        )
    return ACTIONS[action](
        session=session,
        instance_id=instance.id,
        actor=actor.login,
        expected_version=expected_version,
        **options,
    )
