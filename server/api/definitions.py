"""Process definitions: list, versions, XML, diagram image, deployment of new versions."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import abort

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


@blp.route("/<string:key>/versions/<int:version>/svg")
class DefinitionSvg(MethodView):
    @blp.response(501)
    def get(self, key, version):
        """Image SVG : non disponible côté serveur (le diagramme est dessiné par bpmn-js)"""
        abort(501, message="Rendu SVG non disponible : utilisez le XML avec bpmn-js.")
