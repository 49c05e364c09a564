"""Process instances: start, read (state, open tasks, history, variables), and admin actions.

ETag = the instance's lock_version. An If-Match that is not current is answered 412; a write
that loses a race inside the engine (optimistic lock) is answered 409.
"""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from . import Blueprint, etag, if_match, scope, unit_of_work
from . import process_service as service
from .schemas import (
    ActionSchema,
    EventSchema,
    InstanceDetailSchema,
    InstanceQueryArgsSchema,
    InstanceSchema,
    StartSchema,
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


@blp.route("/<int:instance_id>/history")
class InstanceHistory(MethodView):
    @blp.response(200, EventSchema(many=True))
    @unit_of_work
    def get(self, instance_id, *, session, actor):
        """Journal de l'instance (qui a fait quoi, quand)"""
        return service.history(session=session, actor=actor, instance_id=instance_id)


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
