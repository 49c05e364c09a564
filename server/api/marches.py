"""Marchés, their clauses and calibration, hours records and progress (scoped in the services)."""

from __future__ import annotations

from flask.views import MethodView

from workflows.execution import progress as execution_progress
from workflows.execution import service as execution
from workflows.marches import calibration
from workflows.marches import service as marches

from . import Blueprint, unit_of_work
from .schemas import (
    CalibrateSchema,
    ClauseSchema,
    HoursCreateSchema,
    HoursSchema,
    MarcheCreateSchema,
    MarcheQueryArgsSchema,
    MarcheSchema,
    OverrideSchema,
    ProgressSchema,
    ValidateSchema,
)

blp = Blueprint("marches", __name__, url_prefix="/api/v1", description="Marchés et clauses")


@blp.route("/marches")
class Marches(MethodView):
    @blp.arguments(MarcheQueryArgsSchema, location="query")
    @blp.response(200, MarcheSchema(many=True))
    @unit_of_work
    def get(self, args, *, session, actor):
        """Marchés visibles (acheteur : les siens ; facilitateur : ses territoires)"""
        return marches.get_all(session=session, actor=actor, **args)

    @blp.arguments(MarcheCreateSchema)
    @blp.response(201, MarcheSchema)
    @unit_of_work
    def post(self, args, *, session, actor):
        """Enregistrer un marché (démarre son cycle de vie)"""
        return marches.create_marche(session=session, actor=actor, **args)


@blp.route("/marches/<int:marche_id>")
class MarcheById(MethodView):
    @blp.response(200, MarcheSchema)
    @unit_of_work
    def get(self, marche_id, *, session, actor):
        """Un marché"""
        return marches.get(session=session, actor=actor, marche_id=marche_id)


@blp.route("/marches/<int:marche_id>/clauses")
class MarcheClauses(MethodView):
    @blp.response(200, ClauseSchema(many=True))
    @unit_of_work
    def get(self, marche_id, *, session, actor):
        """Clauses du marché"""
        return marches.get(session=session, actor=actor, marche_id=marche_id).clauses


@blp.route("/marches/<int:marche_id>/calibration")
class MarcheCalibration(MethodView):
    @blp.arguments(CalibrateSchema)
    @blp.response(200, ClauseSchema)
    @unit_of_work
    def post(self, args, marche_id, *, session, actor):
        """Calibrer les heures d'insertion (facilitateurs du marché)"""
        return calibration.calibrate_hours(
            session=session, actor=actor, marche_id=marche_id, **args
        )


@blp.route("/clauses/<int:clause_id>")
class ClauseById(MethodView):
    @blp.response(200, ClauseSchema)
    @unit_of_work
    def get(self, clause_id, *, session, actor):
        """Une clause"""
        return calibration.get_clause(session=session, actor=actor, clause_id=clause_id)


@blp.route("/clauses/<int:clause_id>/override")
class ClauseOverride(MethodView):
    @blp.arguments(OverrideSchema)
    @blp.response(200, ClauseSchema)
    @unit_of_work
    def post(self, args, clause_id, *, session, actor):
        """Ajuster l'objectif d'heures, avec justification"""
        override = calibration.override_hours(
            session=session, actor=actor, clause_id=clause_id, **args
        )
        return calibration.get_clause(session=session, actor=actor, clause_id=override.clause_id)


@blp.route("/clauses/<int:clause_id>/validation")
class ClauseValidation(MethodView):
    @blp.arguments(ValidateSchema)
    @blp.response(200, ClauseSchema)
    @unit_of_work
    def post(self, args, clause_id, *, session, actor):
        """Valider (ou refuser) le calibrage"""
        return calibration.validate_calibration(
            session=session, actor=actor, clause_id=clause_id, **args
        )


@blp.route("/marches/<int:marche_id>/hours")
class MarcheHours(MethodView):
    @blp.response(200, HoursSchema(many=True))
    @unit_of_work
    def get(self, marche_id, *, session, actor):
        """Relevés d'heures du marché (facilitateurs)"""
        return execution.get_all_hours(session=session, actor=actor, marche_id=marche_id)

    @blp.arguments(HoursCreateSchema)
    @blp.response(201, HoursSchema)
    @unit_of_work
    def post(self, args, marche_id, *, session, actor):
        """Enregistrer un mois d'heures"""
        return execution.record_hours(session=session, actor=actor, marche_id=marche_id, **args)


@blp.route("/marches/<int:marche_id>/progress")
class MarcheProgress(MethodView):
    @blp.response(200, ProgressSchema)
    @unit_of_work
    def get(self, marche_id, *, session, actor):
        """Avancement : heures réalisées, attendues, retard"""
        return execution_progress.progress(session=session, actor=actor, marche_id=marche_id)
