"""Tasks: inbox query, read, claim / unclaim / assign / delegate / resolve, comments, complete.

ETag of a task = its instance's lock_version; completing with a stale If-Match → 412.
"""

from __future__ import annotations

from flask.views import MethodView

from . import Blueprint, etag, if_match, unit_of_work
from . import tasks_service as service
from .process_service import with_tasks
from .schemas import (
    CommentCreateSchema,
    CommentSchema,
    CompleteSchema,
    InstanceDetailSchema,
    TaskQueryArgsSchema,
    TaskSchema,
    UserRefSchema,
)

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Tâches")


@blp.route("")
class Tasks(MethodView):
    @blp.arguments(TaskQueryArgsSchema, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    @unit_of_work
    def get(self, args, pagination_parameters, *, session, actor):
        """Bac de tâches : filtres, tri, pagination (en-tête X-Pagination)"""
        query = service.inbox(session=session, actor=actor, query=service.Query(**args))
        p = pagination_parameters
        items, p.item_count = service.page(session, query, p.first_item, p.page_size)
        return items


@blp.route("/<string:task_id>")
class TaskById(MethodView):
    @blp.response(200, TaskSchema)
    @unit_of_work
    def get(self, task_id, *, session, actor):
        """Une tâche (ETag = version de son instance)"""
        task = service.get_for(session=session, actor=actor, task_id=task_id)
        return task, 200, etag(service.version_of(session, task))


@blp.route("/<string:task_id>/complete")
class TaskComplete(MethodView):
    @blp.arguments(CompleteSchema)
    @blp.response(200, InstanceDetailSchema)
    @blp.alt_response(412, description="If-Match périmé")
    @unit_of_work
    def post(self, args, task_id, *, session, actor):
        """Terminer une tâche avec les données de son formulaire"""
        instance = service.complete(
            session=session,
            actor=actor,
            task_id=task_id,
            data=args["data"],
            expected_version=if_match(),
        )
        return with_tasks(session, instance), 200, etag(instance.lock_version)


def _assignment(name: str, summary: str, with_user: bool):
    def post(self, *args, session, actor, task_id):
        user = {"user_id": args[0]["user_id"]} if with_user else {}
        task = getattr(service, name)(session=session, actor=actor, task_id=task_id, **user)
        return task, 200, etag(service.version_of(session, task))

    post.__doc__ = summary
    view = unit_of_work(post)
    view = blp.response(200, TaskSchema)(view)
    if with_user:
        view = blp.arguments(UserRefSchema)(view)
    return type(f"Task{name.title()}", (MethodView,), {"post": view})


for _name, _summary, _with_user in (
    ("claim", "Prendre la tâche", False),
    ("unclaim", "Rendre la tâche au groupe", False),
    ("assign", "Attribuer la tâche (user_id, null pour la libérer)", True),
    ("delegate", "Déléguer la tâche (user_id)", True),
    ("resolve", "Rendre une tâche déléguée à son propriétaire", False),
):
    blp.route(f"/<string:task_id>/{_name}")(_assignment(_name, _summary, _with_user))


@blp.route("/<string:task_id>/comments")
class TaskComments(MethodView):
    @blp.response(200, CommentSchema(many=True))
    @unit_of_work
    def get(self, task_id, *, session, actor):
        """Commentaires de la tâche"""
        return service.comments(session=session, actor=actor, task_id=task_id)

    @blp.arguments(CommentCreateSchema)
    @blp.response(201, CommentSchema)
    @unit_of_work
    def post(self, args, task_id, *, session, actor):
        """Commenter la tâche"""
        return service.comment(session=session, actor=actor, task_id=task_id, text=args["text"])
