"""Definitions and instances for the API: the engine's runtime behind scope and role checks."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import deploy as deployment
from workflows.engine import runtime, timers
from workflows.engine.errors import DiagramError
from workflows.engine.models import Event, HumanTask, Instance, ProcessDefinition, Timer

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
    """The instance with its open tasks attached (for InstanceDetailSchema); after a change, the
    rows the engine has just written (`open_rows`, when they are all its open rows)."""
    version, rows = instance.open_rows or (None, None)
    if version != instance.lock_version or rows is None:
        rows = open_tasks(session=session, instance=instance)
    instance.tasks = rows
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


# --- Audit export of an instance's full history -------------------------------------------------

MASK = "[masqué]"
# What identifies a beneficiary (workflows/rgpd: the identity in the person's export, the
# eligibility's validator and prescriber, the pseudonym that leads to the record).
PERSONAL_KEYS = frozenset(
    {
        "prenom",
        "nom",
        "nom_prenom",
        "first_name",
        "last_name",
        "annee_naissance",
        "birth_year",
        "date_naissance",
        "birth_date",
        "code_postal",
        "postcode",
        "adresse",
        "address",
        "validateur",
        "validator",
        "prescripteur",
        "prescriber",
        "pseudonyme",
        "pseudonym",
    }
)
REDACTION_RULE = (
    "Export pour un acheteur : les valeurs des champs qui désignent un bénéficiaire (nom, prénom, "
    "année de naissance, code postal, validateur, prescripteur, pseudonyme, et tout champ "
    "« bénéficiaire » qui n'est pas un nombre) et les noms des bénéficiaires du marché et de ses "
    "territoires cités dans un texte sont remplacés par « [masqué] ». Facilitateurs, "
    "coordinateurs et administrateurs, qui peuvent consulter ces fiches, reçoivent l'export "
    "complet."
)


def _plain(key: str) -> str:
    """A key without accents, in lower case, words joined by "_"."""
    decomposed = unicodedata.normalize("NFKD", key)
    ascii_key = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s\-.]+", "_", ascii_key.strip().lower())


def personal_key(key: str, value: Any) -> bool:
    """Whether a data field names a beneficiary (its counts and totals do not)."""
    plain = _plain(key)
    if plain in PERSONAL_KEYS:
        return True
    counted = isinstance(value, int | float) or value is None
    return ("benefici" in plain or "beneficiar" in plain) and not counted


def _names_pattern(session: Session, instance: Instance) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive pattern of the names of the beneficiaries this instance's
    texts could mention: those of its marché (hours, outcomes) and of its territories."""
    from workflows.beneficiaires.models import Beneficiary
    from workflows.execution.models import HoursRecord, Outcome
    from workflows.marches.models import Marche, MarcheTerritory

    marche = session.scalar(select(Marche).where(Marche.instance_id == instance.id))
    territories = {instance.territory_id} - {None}
    people = select(Beneficiary.first_name, Beneficiary.last_name).where(
        Beneficiary.erased_at.is_(None)
    )
    conditions = []
    if marche is not None:
        territories |= {marche.territory_id} | set(
            session.scalars(
                select(MarcheTerritory.territory_id).where(MarcheTerritory.marche_id == marche.id)
            )
        )
        conditions += [
            Beneficiary.id.in_(
                select(HoursRecord.beneficiary_id).where(HoursRecord.marche_id == marche.id)
            ),
            Beneficiary.id.in_(
                select(Outcome.beneficiary_id).where(Outcome.marche_id == marche.id)
            ),
        ]
    if territories:
        conditions.append(Beneficiary.territory_id.in_(sorted(territories)))
    if not conditions:
        return None
    names: set[str] = set()
    for first, last in session.execute(people.where(or_(*conditions))):
        for name in (first, last, f"{first} {last}", f"{last} {first}"):
            if name and len(name.strip()) >= 2 and "None" not in name.split():
                names.add(name.strip())
    if not names:
        return None
    words = sorted(names, key=len, reverse=True)  # "Julie Moreau" before "Julie"
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)


def redact(value: Any, names: re.Pattern[str] | None) -> Any:
    """`value` with personal fields and beneficiaries' names masked (nested data included)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            shown = names.sub(MASK, key) if names and isinstance(key, str) else key
            while shown in out:  # two keys masked alike stay two entries
                shown = f"{shown}'"
            out[shown] = MASK if personal_key(str(key), item) else redact(item, names)
        return out
    if isinstance(value, list | tuple):
        return [redact(item, names) for item in value]
    if isinstance(value, str) and names is not None:
        return names.sub(MASK, value)
    return value


def audit(*, session: Session, actor: Actor, instance_id: int) -> dict[str, Any]:
    """Everything recorded about one instance, for an audit: the instance, every event in order,
    every inbox row (open or done), pending timers. Scoped like the instance (NotFound), and
    masked for whoever may not read beneficiary records (see REDACTION_RULE)."""
    instance = get(session=session, actor=actor, instance_id=instance_id)
    masked = not (actor.is_admin or actor.facilitates)
    names = _names_pattern(session, instance) if masked else None

    def shown(value: Any) -> Any:
        return redact(value, names) if masked else value

    definition = instance.definition
    events = session.scalars(
        select(Event).where(Event.instance_id == instance.id).order_by(Event.id)
    )
    tasks = session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == instance.id)
        .order_by(HumanTask.created_at, HumanTask.id)
    )
    pending = session.scalars(
        select(Timer).where(Timer.instance_id == instance.id).order_by(Timer.due_at, Timer.id)
    )
    return {
        "instance": {
            "id": instance.id,
            "key": definition.key,
            "version": definition.version,
            "name": definition.name,
            "business_key": instance.business_key,
            "status": instance.status,
            "started_at": instance.started_at,
            "started_by": instance.started_by,
            "updated_at": instance.updated_at,
            "ended_at": instance.ended_at,
            "error_element": instance.error_element,
            "error_message": shown(instance.error_message),
            "lock_version": instance.lock_version,
        },
        "events": [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "kind": e.kind,
                "element_id": e.element_id,
                "data": shown(e.data or {}),
            }
            for e in events
        ],
        "tasks": [
            {
                "id": t.id,
                "element_id": t.element_id,
                "name": t.name,
                "state": t.state,
                "candidate_groups": list(t.candidate_groups or []),
                "candidate_users": list(t.candidate_users or []),
                "assignee": t.assignee,
                "created_at": t.created_at,
                "due_at": t.due_at,
                "follow_up_at": t.follow_up_at,
                "completed_at": t.completed_at,
                "completed_by": t.completed_by,
            }
            for t in tasks
        ],
        "timers": [
            {"id": t.id, "element_id": t.element_id, "kind": t.kind, "due_at": t.due_at}
            for t in pending
        ],
        "redaction": {"applied": masked, "rule": REDACTION_RULE if masked else None},
        "generated_at": timers.now(),
        "generated_for": actor.login,
    }


CSV_COLUMNS = ("id", "at", "actor", "kind", "element_id", "data")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def events_csv(export: dict[str, Any]) -> bytes:
    """The export's events as semicolon-separated UTF-8 with BOM (like the other exports)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in export["events"]:
        data = json.dumps(e["data"], ensure_ascii=False, sort_keys=True, default=str)
        at = e["at"].isoformat() if e["at"] else ""
        writer.writerow(
            [_cell(v) for v in (e["id"], at, e["actor"], e["kind"], e["element_id"], data)]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
