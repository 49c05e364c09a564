"""Messages: deliver a named message to the instances waiting for it, or start a process on it.

Who: administrators, facilitators and coordinators (as for the instance actions); only visible
instances are candidates, and starting follows the rules of a plain start (business key in one's
territories). Each delivery is saved with an audit event `message.correlated`.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import messages
from workflows.engine.models import Instance

from . import Blueprint, scope, unit_of_work
from . import process_service as service
from .schemas import MAX_ID, InstanceSchema, StrictSchema

blp = Blueprint("messages", __name__, url_prefix="/api/v1/messages", description="Messages")


def correlate(
    *,
    session: Session,
    actor: Actor,
    name: str,
    business_key: str | None = None,
    instance_id: int | None = None,
    variables: dict[str, Any] | None = None,
    correlation_keys: dict[str, Any] | None = None,
    all_targets: bool = False,
) -> list[messages.Correlated]:
    """Scoped correlation: NoMatch (404) when nothing visible waits and nothing starts,
    Ambiguous (409) when several targets match without `all_targets`."""
    require(
        actor.is_admin or actor.facilitates,
        "Les messages sont réservés aux facilitateurs, coordinations et administrateurs.",
    )
    candidates = scope.filtered_instances(session, actor, business_key=business_key)
    if instance_id is not None:
        candidates = candidates.where(Instance.id == instance_id)

    def may_start(_definition) -> None:
        service.may_start(session, actor, business_key)

    return messages.correlate(
        session=session,
        name=name,
        candidates=candidates,
        may_start=may_start if instance_id is None else None,
        business_key=business_key,
        variables=variables,
        correlation_keys=correlation_keys,
        all_targets=all_targets,
        actor=actor.login,
    )


class MessageSchema(StrictSchema):
    message_name = fields.String(required=True, validate=validate.Length(1, 200))
    business_key = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(1, 200)
    )
    instance_id = fields.Integer(
        allow_none=True, load_default=None, validate=validate.Range(1, MAX_ID)
    )
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    correlation_keys = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "Variables que l'instance doit avoir (nom → valeur)"},
    )
    all = fields.Boolean(
        load_default=False,
        metadata={"description": "Toutes les cibles (sinon une seule, ou 409)"},
    )


class CorrelatedSchema(ma.Schema):
    started = fields.Boolean(metadata={"description": "Instance démarrée par le message"})
    elements = fields.List(fields.String(), attribute="element_ids")
    instance = fields.Nested(InstanceSchema)


@blp.route("")
class Messages(MethodView):
    @blp.arguments(MessageSchema)
    @blp.response(200, CorrelatedSchema(many=True))
    @blp.alt_response(404, description="Aucune instance visible n'attend ce message")
    @blp.alt_response(409, description="Plusieurs cibles possibles sans « all »")
    @unit_of_work
    def post(self, args, *, session, actor):
        """Envoyer un message : aux instances qui l'attendent, ou démarrer un processus"""
        return correlate(
            session=session,
            actor=actor,
            name=args["message_name"],
            business_key=args["business_key"],
            instance_id=args["instance_id"],
            variables=args["variables"],
            correlation_keys=args["correlation_keys"],
            all_targets=args["all"],
        )
