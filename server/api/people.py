"""Beneficiaries (facilitators only, RGPD), users, organisations, territories."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields

from workflows.beneficiaires import service as beneficiaires
from workflows.referentiel import service as referentiel

from . import Blueprint, unit_of_work
from . import people_service as people
from .schemas import (
    BeneficiaryCreateSchema,
    BeneficiaryQueryArgsSchema,
    BeneficiarySchema,
    OrganisationCreateSchema,
    OrganisationSchema,
    StrictSchema,
    TerritoryCreateSchema,
    TerritorySchema,
    UserSchema,
)


class AccountSchema(UserSchema):
    manager = fields.Function(lambda u: u.manager.login if u.manager else None)


class ManagerSchema(StrictSchema):
    manager = fields.String(required=True, allow_none=True)


blp = Blueprint("people", __name__, url_prefix="/api/v1", description="Personnes et référentiel")


@blp.route("/beneficiaries")
class Beneficiaries(MethodView):
    @blp.arguments(BeneficiaryQueryArgsSchema, location="query")
    @blp.response(200, BeneficiarySchema(many=True))
    @unit_of_work
    def get(self, args, *, session, actor):
        """Bénéficiaires visibles (facilitateurs de leurs territoires ; lectures journalisées)"""
        return beneficiaires.get_all(session=session, actor=actor, **args)

    @blp.arguments(BeneficiaryCreateSchema)
    @blp.response(201, BeneficiarySchema)
    @unit_of_work
    def post(self, args, *, session, actor):
        """Enregistrer un bénéficiaire"""
        return beneficiaires.create(session=session, actor=actor, **args)


@blp.route("/beneficiaries/<int:beneficiary_id>")
class BeneficiaryById(MethodView):
    @blp.response(200, BeneficiarySchema)
    @unit_of_work
    def get(self, beneficiary_id, *, session, actor):
        """Un bénéficiaire (lecture journalisée)"""
        return beneficiaires.get(session=session, actor=actor, beneficiary_id=beneficiary_id)


@blp.route("/users")
class Users(MethodView):
    @blp.response(200, AccountSchema(many=True))
    @unit_of_work
    def get(self, *, session, actor):
        """Comptes (administrateurs et coordinations)"""
        return people.users(session=session, actor=actor)


@blp.route("/users/me")
class Me(MethodView):
    @blp.response(200, AccountSchema)
    @unit_of_work
    def get(self, *, session, actor):
        """Mon compte"""
        return people.me(session=session, actor=actor)


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    @blp.response(200, AccountSchema)
    @unit_of_work
    def get(self, user_id, *, session, actor):
        """Un compte (le sien ; tous pour administrateurs et coordinations)"""
        return people.user(session=session, actor=actor, user_id=user_id)

    @blp.arguments(ManagerSchema)
    @blp.response(200, AccountSchema)
    @unit_of_work
    def patch(self, args, user_id, *, session, actor):
        """Désigner (ou retirer, null) le responsable d'un compte (administrateurs)"""
        return people.set_manager(
            session=session, actor=actor, user_id=user_id, manager=args["manager"]
        )


@blp.route("/organisations")
class Organisations(MethodView):
    @blp.response(200, OrganisationSchema(many=True))
    @unit_of_work
    def get(self, *, session, actor):
        """Organisations (référentiel)"""
        return people.organisations(session=session)

    @blp.arguments(OrganisationCreateSchema)
    @blp.response(201, OrganisationSchema)
    @unit_of_work
    def post(self, args, *, session, actor):
        """Enregistrer une organisation (administrateurs, coordinations)"""
        return referentiel.create_organisation(session=session, actor=actor, **args)


@blp.route("/organisations/<int:organisation_id>")
class OrganisationById(MethodView):
    @blp.response(200, OrganisationSchema)
    @unit_of_work
    def get(self, organisation_id, *, session, actor):
        """Une organisation"""
        return referentiel.get_organisation(session=session, organisation_id=organisation_id)


@blp.route("/territories")
class Territories(MethodView):
    @blp.response(200, TerritorySchema(many=True))
    @unit_of_work
    def get(self, *, session, actor):
        """Territoires (référentiel)"""
        return referentiel.get_all_territories(session=session)

    @blp.arguments(TerritoryCreateSchema)
    @blp.response(201, TerritorySchema)
    @unit_of_work
    def post(self, args, *, session, actor):
        """Enregistrer un territoire (administrateurs, coordinations)"""
        return referentiel.create_territory(session=session, actor=actor, **args)


@blp.route("/territories/<int:territory_id>")
class TerritoryById(MethodView):
    @blp.response(200, TerritorySchema)
    @unit_of_work
    def get(self, territory_id, *, session, actor):
        """Un territoire"""
        return referentiel.get_territory(session=session, territory_id=territory_id)
