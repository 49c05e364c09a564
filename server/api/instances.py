"""Process instances: start, read (state, open tasks, history, variables), and admin actions.

ETag = the instance's lock_version. An If-Match that is not current is answered 412; a write
that loses a race inside the engine (optimistic lock) is answered 409.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import fields, validate

from . import Blueprint, etag, if_match, scope, unit_of_work
from . import process_service as service
from .schemas import (
    ActionSchema,
    InstanceDetailSchema,
    InstanceQueryArgsSchema,
    InstanceSchema,
    StartSchema,
    StrictSchema,
)
from .tasks_service import page

OBJECT = {
    "description": "Variables (nom → valeur)",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
blp = Blueprint("instances", __name__, url_prefix="/api/v1/instances", description="Instances")


def _detail(session, instance):
    return service.with_tasks(session, instance), 200, etag(instance.lock_version)


@blp.route("")
class Instances(MethodView):
    @blp.arguments(InstanceQueryArgsSchema, location="query")
    @blp.response(200, InstanceSchema(many=True))
    @blp.paginate()
    @unit_of_work
    def get(self, args, pagination_parameters, *, session, actor):
        """Instances visibles, les plus récentes d'abord (pagination : en-tête X-Pagination)"""
        query = scope.filtered_instances(session, actor, **args)
        p = pagination_parameters
        items, p.item_count = page(session, query, p.first_item, p.page_size)
        return items

    @blp.arguments(StartSchema)
    @blp.response(201, InstanceDetailSchema)
    @unit_of_work
    def post(self, args, *, session, actor):
        """Démarrer une instance (facilitateurs, coordinations, administrateurs)"""
        return _created(session, service.start(session=session, actor=actor, **args))


def _created(session, instance):
    body, _, headers = _detail(session, instance)
    return body, 201, headers


@blp.route("/<int:instance_id>")
class InstanceById(MethodView):
    @blp.response(200, InstanceDetailSchema)
    @unit_of_work
    def get(self, instance_id, *, session, actor):
        """Une instance : état, tâches ouvertes (ETag = version)"""
        return _detail(session, service.get(session=session, actor=actor, instance_id=instance_id))


class HistoryQueryArgsSchema(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class HistoryInstanceSchema(ma.Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    business_key = fields.String(allow_none=True)
    status = fields.String()
    started_at = fields.DateTime()
    started_by = fields.String(allow_none=True)
    updated_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    error_element = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    lock_version = fields.Integer()


class HistoryEventSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    kind = fields.String()
    element_id = fields.String(allow_none=True)
    data = fields.Dict()


class HistoryTaskSchema(ma.Schema):
    id = fields.String()
    element_id = fields.String()
    name = fields.String(allow_none=True)
    state = fields.String()
    candidate_groups = fields.List(fields.String())
    candidate_users = fields.List(fields.String())
    assignee = fields.String(allow_none=True)
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    follow_up_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)


class HistoryTimerSchema(ma.Schema):
    id = fields.String()
    element_id = fields.String()
    kind = fields.String()
    due_at = fields.DateTime()


class RedactionSchema(ma.Schema):
    applied = fields.Boolean()
    rule = fields.String(allow_none=True)


class HistorySchema(ma.Schema):
    """Audit export of one instance (GET …/history and `clausier export-instance`)."""

    instance = fields.Nested(HistoryInstanceSchema)
    events = fields.List(fields.Nested(HistoryEventSchema))
    tasks = fields.List(fields.Nested(HistoryTaskSchema))
    timers = fields.List(fields.Nested(HistoryTimerSchema))
    redaction = fields.Nested(RedactionSchema)
    generated_at = fields.DateTime()
    generated_for = fields.String()


HISTORY_CONTENT = {
    "application/json": {"schema": HistorySchema},
    "text/csv": {"schema": {"type": "string"}},
}


@blp.route("/<int:instance_id>/history")
class InstanceHistory(MethodView):
    @blp.arguments(HistoryQueryArgsSchema, location="query")
    @blp.response(200, HistorySchema)
    @blp.doc(responses={"200": {"description": "OK", "content": HISTORY_CONTENT}})
    @unit_of_work
    def get(self, args, instance_id, *, session, actor):
        """Historique complet de l'instance (export d'audit ; `?format=csv` : les événements)

        L'instance, chaque événement dans l'ordre (qui, quand, quoi, données), chaque tâche
        (créée, terminée, par qui, échéances) et les minuteries en attente. En CSV (UTF-8 avec
        BOM, séparateur « ; ») : les seuls événements. Pour un acheteur, les données personnelles
        des bénéficiaires sont masquées (voir `redaction.rule`).
        """
        export = service.audit(session=session, actor=actor, instance_id=instance_id)
        if args["format"] == "csv":
            name = f"instance-{instance_id}-historique.csv"
            return Response(
                service.events_csv(export),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return export


@blp.route("/<int:instance_id>/variables")
class InstanceVariables(MethodView):
    @blp.doc(responses={"200": OBJECT})
    @unit_of_work
    def get(self, instance_id, *, session, actor):
        """Variables courantes de l'instance"""
        return jsonify(service.variables(session=session, actor=actor, instance_id=instance_id))


def _action(name: str, summary: str, options: tuple[str, ...]):
    @blp.arguments(ActionSchema)
    @blp.response(200, InstanceDetailSchema)
    @blp.alt_response(412, description="If-Match périmé")
    @unit_of_work
    def post(self, args, instance_id, *, session, actor):
        instance = service.act(
            session=session,
            actor=actor,
            instance_id=instance_id,
            action=name,
            expected_version=if_match(),
            **{k: args[k] for k in options if k in args},
        )
        return _detail(session, instance)

    post.__doc__ = summary
    return type(f"Instance{name.title()}", (MethodView,), {"post": post})


for _name, _summary, _options in (
    ("suspend", "Suspendre", ()),
    ("resume", "Reprendre", ()),
    ("cancel", "Annuler (motif)", ("reason",)),
    ("retry", "Relancer une instance en erreur (variables corrigées)", ("variables",)),
    ("migrate", "Migrer vers une version plus récente", ("version",)),
):
    blp.route(f"/<int:instance_id>/{_name}")(_action(_name, _summary, _options))
