"""Marshmallow schemas of the API: `XSchema` out, `XCreateSchema` / `XQueryArgsSchema` in."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .tasks_service import SORTS

Str = fields.String
MAX_ID = 2**31 - 1


def _amount(low: float, high: float, **kw):
    """A decimal in [low, high]; bounds checked by a function (apispec would print them as text)."""

    def check(value):
        if not low <= value <= high:
            raise ma.ValidationError(f"Must be between {low} and {high}.")

    return fields.Decimal(
        validate=check, allow_nan=False, metadata={"minimum": low, "maximum": high}, **kw
    )


def _id(**kw):
    return fields.Integer(validate=validate.Range(1, MAX_ID), **kw)


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class DefinitionSchema(ma.Schema):
    id = fields.Integer()
    key = Str()
    version = fields.Integer()
    name = Str(allow_none=True)
    source_name = Str()
    deployed_at = fields.DateTime()
    deployed_by = Str(allow_none=True)


class DefinitionQueryArgsSchema(StrictSchema):
    all_versions = fields.Boolean(load_default=False)


class DeployedSchema(ma.Schema):
    kind = Str()
    key = Str()
    version = fields.Integer()
    created = fields.Boolean()


class DeployFilesSchema(ma.Schema):
    files = fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)


class TaskSchema(ma.Schema):
    id = Str()
    instance_id = fields.Integer()
    process_key = Str()
    element_id = Str()
    name = Str(allow_none=True)
    lane = Str(allow_none=True)
    candidate_groups = fields.List(Str())
    candidate_users = fields.List(Str())
    assignee = Str(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    follow_up_at = fields.DateTime(allow_none=True)
    form_key = Str(allow_none=True)
    form = fields.Dict()
    state = Str()
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    completed_by = Str(allow_none=True)


class InstanceSchema(ma.Schema):
    id = fields.Integer()
    key = Str(attribute="definition.key")
    version = fields.Integer(attribute="definition.version")
    business_key = Str(allow_none=True)
    status = Str()
    error_message = Str(allow_none=True)
    error_element = Str(allow_none=True)
    started_by = Str(allow_none=True)
    started_at = fields.DateTime()
    updated_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    lock_version = fields.Integer()


class InstanceDetailSchema(InstanceSchema):
    tasks = fields.List(fields.Nested(TaskSchema))


class InstanceQueryArgsSchema(StrictSchema):
    status = Str(
        validate=validate.OneOf(["running", "suspended", "error", "completed", "cancelled"])
    )
    key = Str(validate=validate.Length(1, 200))
    business_key = Str(validate=validate.Length(1, 200))


class StartSchema(StrictSchema):
    key = Str(required=True, validate=validate.Length(1, 200))
    version = _id()
    business_key = Str(allow_none=True, load_default=None, validate=validate.Length(0, 200))
    variables = fields.Dict(keys=Str(), load_default=dict)


class ActionSchema(StrictSchema):
    reason = Str(load_default="", validate=validate.Length(0, 2000))
    variables = fields.Dict(keys=Str(), load_default=dict)
    version = _id()


class EventSchema(ma.Schema):
    id = fields.Integer()
    instance_id = fields.Integer(allow_none=True)
    at = fields.DateTime()
    actor = Str(allow_none=True)
    kind = Str()
    element_id = Str(allow_none=True)
    data = fields.Dict()


class TaskQueryArgsSchema(StrictSchema):
    mine = fields.Boolean(load_default=False)
    my_groups = fields.Boolean(load_default=False)
    assignee = Str(validate=validate.Length(1, 200))
    candidate_group = Str(validate=validate.Length(1, 200))
    due_before = fields.AwareDateTime()
    due_after = fields.AwareDateTime()
    overdue = fields.Boolean(load_default=False)
    follow_up_before = fields.AwareDateTime()
    process = Str(validate=validate.Length(1, 200))
    instance_id = _id()
    marche = Str(validate=validate.Length(1, 200), metadata={"description": "référence du marché"})
    state = Str(load_default="open", validate=validate.OneOf(["open", "completed", "cancelled"]))
    sort = Str(load_default="due", validate=validate.OneOf(sorted(SORTS)))
    desc = fields.Boolean(load_default=False)


class CompleteSchema(StrictSchema):
    data = fields.Dict(keys=Str(), load_default=dict)


class UserRefSchema(StrictSchema):
    user_id = Str(required=True, allow_none=True, validate=validate.Length(1, 200))


class CommentCreateSchema(StrictSchema):
    text = Str(required=True, validate=validate.Length(1, 5000))


class CommentSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = Str(allow_none=True)
    text = fields.Function(lambda e: e.data.get("text", ""))


class MarcheSchema(ma.Schema):
    id = fields.Integer()
    reference = Str()
    subject = Str()
    buyer_id = fields.Integer()
    territory_id = fields.Integer()
    nature = Str()
    cpv_code = Str()
    estimated_amount_ht = fields.Decimal(as_string=True)
    max_amount_ht = fields.Decimal(as_string=True, allow_none=True)
    duration_months = fields.Integer()
    place_of_execution = Str(allow_none=True)
    phase = Str()
    disposition = Str(allow_none=True)
    instance_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    created_by = Str(allow_none=True)


class MarcheCreateSchema(StrictSchema):
    reference = Str(required=True, validate=validate.Length(1, 100))
    subject = Str(required=True, validate=validate.Length(1, 500))
    buyer_id = _id(required=True)
    territory_id = _id(required=True)
    nature = Str(required=True, validate=validate.Length(1, 20))
    cpv_code = Str(required=True, validate=validate.Length(1, 12))
    estimated_amount_ht = _amount(0, 10**11, required=True, places=2)
    duration_months = fields.Integer(required=True, validate=validate.Range(1, 120))
    place_of_execution = Str(validate=validate.Length(0, 300))
    is_framework = fields.Boolean()
    max_amount_ht = _amount(0, 10**11, places=2)


class MarcheQueryArgsSchema(StrictSchema):
    phase = Str(validate=validate.Length(1, 20))
    territory_id = _id()


class ClauseSchema(ma.Schema):
    id = fields.Integer()
    marche_id = fields.Integer()
    lot_id = fields.Integer(allow_none=True)
    disposition = Str()
    reservation = Str(allow_none=True)
    legal_article = Str(allow_none=True)
    method = Str(allow_none=True)
    amount_ht = fields.Decimal(as_string=True, allow_none=True)
    calculated_hours = fields.Decimal(as_string=True, allow_none=True)
    hours_target = fields.Decimal(as_string=True, allow_none=True)
    calibrated_at = fields.DateTime(allow_none=True)
    calibrated_by = Str(allow_none=True)
    validated_at = fields.DateTime(allow_none=True)
    validated_by = Str(allow_none=True)


class CalibrateSchema(StrictSchema):
    lot_id = _id()
    basis = Str(validate=validate.OneOf(["estime", "maximum", "notifie"]))
    method = Str(validate=validate.OneOf(["formule", "ratio"]))
    insertion_rate = _amount(0, 1)
    hourly_cost = _amount(1, 10_000)
    labour_share = _amount(0, 1)
    euros_per_hour = _amount(1, 10**8)


class OverrideSchema(StrictSchema):
    hours = _amount(0, 10**8, required=True)
    justification = Str(required=True, validate=validate.Length(1, 5000))


class ValidateSchema(StrictSchema):
    validated = fields.Boolean(required=True)


class HoursSchema(ma.Schema):
    id = fields.Integer()
    marche_id = fields.Integer()
    lot_id = fields.Integer(allow_none=True)
    holder_id = fields.Integer()
    beneficiary_id = fields.Integer()
    month = fields.Date()
    hours = fields.Decimal(as_string=True)
    training_hours = fields.Decimal(as_string=True)
    route = Str()
    contract_type = Str()
    counting_method = Str()
    contract_start = fields.Date()
    counted = fields.Boolean()
    flag = Str(allow_none=True)


class HoursCreateSchema(StrictSchema):
    holder_id = _id(required=True)
    beneficiary_id = _id(required=True)
    month = fields.Date(required=True)
    hours = _amount(0, 10**4, required=True)
    route = Str(required=True, validate=validate.Length(1, 30))
    contract_type = Str(required=True, validate=validate.Length(1, 30))
    contract_start = fields.Date(required=True)
    counting_method = Str(validate=validate.Length(1, 30))
    training_hours = _amount(0, 10**4)
    lot_id = _id()
    structure_id = _id()


class BeneficiarySchema(ma.Schema):
    id = fields.Integer()
    pseudonym = Str()
    territory_id = fields.Integer()
    first_name = Str(allow_none=True)
    last_name = Str(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    age_band = Str(allow_none=True)
    sex = Str(allow_none=True)
    postcode = Str(allow_none=True)
    created_at = fields.DateTime()
    erased_at = fields.DateTime(allow_none=True)


class BeneficiaryCreateSchema(StrictSchema):
    territory_id = _id(required=True)
    first_name = Str(required=True, validate=validate.Length(1, 100))
    last_name = Str(required=True, validate=validate.Length(1, 100))
    birth_year = fields.Integer(validate=validate.Range(1900, 2100))
    sex = Str(validate=validate.Length(1, 1))
    postcode = Str(validate=validate.Regexp(r"^\d{5}$"))


class BeneficiaryQueryArgsSchema(StrictSchema):
    marche_id = _id()
    territory_id = _id()


class UserSchema(ma.Schema):
    id = fields.Integer()
    login = Str()
    email = Str(allow_none=True)
    full_name = Str(allow_none=True)
    role = Str()
    organisation_id = fields.Integer(allow_none=True)
    territory_ids = fields.Function(lambda u: sorted(t.territory_id for t in u.territories))
    active = fields.Boolean()


class OrganisationSchema(ma.Schema):
    id = fields.Integer()
    kind = Str()
    name = Str()
    siret = Str(allow_none=True)
    postcode = Str(allow_none=True)
    city = Str(allow_none=True)


class OrganisationCreateSchema(StrictSchema):
    kind = Str(required=True, validate=validate.Length(1, 30))
    name = Str(required=True, validate=validate.Length(1, 300))
    siret = Str(validate=validate.Length(1, 20))
    postcode = Str(validate=validate.Regexp(r"^\d{5}$"))
    city = Str(validate=validate.Length(1, 200))


class TerritorySchema(ma.Schema):
    id = fields.Integer()
    code = Str()
    name = Str()
    charter_id = fields.Integer(allow_none=True)


class TerritoryCreateSchema(StrictSchema):
    code = Str(required=True, validate=validate.Length(1, 50))
    name = Str(required=True, validate=validate.Length(1, 300))


class ProgressSchema(ma.Schema):
    marche_id = fields.Integer()
    as_of = fields.Date()
    target = fields.Decimal(as_string=True, allow_none=True)
    delivered = fields.Decimal(as_string=True)
    flagged = fields.Decimal(as_string=True)
    expected = fields.Decimal(as_string=True, allow_none=True)
    late = fields.Boolean()
    status = Str()


class IndicatorQueryArgsSchema(StrictSchema):
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    territory_id = _id()
    buyer_id = _id()


class NotificationQueryArgsSchema(StrictSchema):
    unread = fields.Boolean(load_default=False)


class NotificationSchema(ma.Schema):
    id = fields.Integer()
    kind = Str()
    title = Str()
    body_text = Str()
    link = Str(allow_none=True)
    instance_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
