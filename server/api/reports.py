"""Bilans, indicators and in-app notifications (the other teams' services, scoped there)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import jsonify
from flask.views import MethodView

from notifications import service as notifications
from workflows.bilans import service as bilans
from workflows.indicateurs import service as indicateurs

from . import Blueprint, unit_of_work
from .schemas import IndicatorQueryArgsSchema, NotificationQueryArgsSchema, NotificationSchema

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Bilans et indicateurs")
OBJECT = {
    "description": "Rapport (objet JSON)",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def as_json(value: Any) -> Any:
    """Dataclasses, decimals and dates as JSON values (decimals as text, like elsewhere)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@blp.route("/marches/<int:marche_id>/bilan")
class MarcheBilan(MethodView):
    @blp.doc(responses={"200": OBJECT})
    @unit_of_work
    def get(self, marche_id, *, session, actor):
        """Bilan du marché (agrégats protégés pour l'acheteur)"""
        return jsonify(as_json(bilans.get_bilan(session=session, actor=actor, marche_id=marche_id)))


@blp.route("/indicators")
class Indicators(MethodView):
    @blp.arguments(IndicatorQueryArgsSchema, location="query")
    @blp.doc(responses={"200": OBJECT})
    @unit_of_work
    def get(self, args, *, session, actor):
        """Indicateurs de la charte sur une période"""
        return jsonify(as_json(indicateurs.compute(session=session, actor=actor, **args)))


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationQueryArgsSchema, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @unit_of_work
    def get(self, args, *, session, actor):
        """Mes notifications dans l'application, les plus récentes d'abord"""
        return notifications.get_all(session=session, actor=actor, unread=args["unread"])


@blp.route("/notifications/read")
class NotificationsRead(MethodView):
    @blp.response(204)
    @unit_of_work
    def post(self, *, session, actor):
        """Marquer toutes mes notifications comme lues"""
        notifications.mark_read(session=session, actor=actor)
