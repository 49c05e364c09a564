"""Process definitions: list, versions, XML, diagram image, deployment of new versions."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from workflows.engine import svg

from . import Blueprint, unit_of_work
from . import process_service as service
from .schemas import DefinitionQueryArgsSchema, DefinitionSchema, DeployedSchema, DeployFilesSchema

blp = Blueprint("definitions", __name__, url_prefix="/api/v1/definitions", description="Processus")


@blp.route("")
class Definitions(MethodView):
    @blp.arguments(DefinitionQueryArgsSchema, location="query")
    @blp.response(200, DefinitionSchema(many=True))
    @unit_of_work
    def get(self, args, *, session, actor):
        """Processus déployés (dernière version, ou toutes)"""
        return service.definitions(session=session, latest_only=not args["all_versions"])

    @blp.arguments(DeployFilesSchema, location="files")
    @blp.response(201, DeployedSchema(many=True))
    @blp.alt_response(422, description="Diagramme refusé (fichier et élément nommés)")
    @unit_of_work
    def post(self, files, *, session, actor):
        """Déployer des fichiers .bpmn / .dmn (multipart, champ « files »)"""
        return service.deploy(session=session, actor=actor, files=_uploaded())


def _uploaded() -> dict[str, bytes]:
    from flask import request

    found = {f.filename or "": f.read() for f in request.files.getlist("files")}
    if not found:
        abort(422, message="Aucun fichier envoyé (champ « files »).")
    return found


@blp.route("/<string:key>")
class DefinitionVersions(MethodView):
    @blp.response(200, DefinitionSchema(many=True))
    @unit_of_work
    def get(self, key, *, session, actor):
        """Versions d'un processus, la plus récente d'abord"""
        return service.definitions(session=session, key=key) or abort(404, message="introuvable")


@blp.route("/<string:key>/versions/<int:version>/xml")
class DefinitionXml(MethodView):
    @blp.response(200, content_type="application/xml")
    @unit_of_work
    def get(self, key, version, *, session, actor):
        """Source BPMN d'une version"""
        row = service.definition(session=session, key=key, version=version)
        return Response(row.bpmn_xml, mimetype="application/xml")


class SvgArgsSchema(Schema):
    highlight = fields.String(
        load_default="",
        validate=validate.Length(max=4000),
        metadata={"description": "Éléments à mettre en évidence : identifiants séparés par « , »"},
    )


@blp.route("/<string:key>/versions/<int:version>/svg")
class DefinitionSvg(MethodView):
    @blp.arguments(SvgArgsSchema, location="query")
    @blp.response(200, {"type": "string"}, content_type="image/svg+xml")
    @blp.alt_response(404, description="Processus ou version introuvable")
    @blp.alt_response(422, description="Diagramme sans disposition graphique (BPMN DI)")
    @unit_of_work
    def get(self, args, key, version, *, session, actor):
        """Image SVG d'une version, dessinée d'après sa disposition BPMN DI"""
        row = service.definition(session=session, key=key, version=version)
        marked = [h.strip() for h in args["highlight"].split(",") if h.strip()]
        image = svg.render(row.bpmn_xml, highlight=marked, file_name=row.source_name)
        return Response(image, mimetype="image/svg+xml")
