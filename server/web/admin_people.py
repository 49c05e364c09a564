"""Accounts, organisations and territories in the admin area: lists and creation forms.

Accounts are opened, disabled and given a manager through `server.api.people_service` (admins
only, audited); organisations and territories through `workflows.referentiel.service`. A refused
form comes back with its values and the error beside each field (`_field.html`).
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.accounts.models import ROLES
from workflows.engine.errors import EngineError, FormInvalid
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import ORGANISATION_KINDS

from ..api import people_service as people
from .admin import admin_page, blp
from .forms import FieldView
from .pages import ROLE_LABELS

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEPARTEMENT = re.compile(r"^(\d{2,3}|2[AB])$")


def _view(
    fid: str,
    label: str,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    kind: str = "string",
    required: bool = False,
    options: list[tuple[str, str]] | None = None,
    hints: list[str] | None = None,
) -> FieldView:
    return FieldView(
        id=fid,
        label=label,
        type=kind,
        value=values.get(fid, ""),
        required=required,
        options=options or [],
        hints=hints or [],
        error=errors.get(fid),
    )


def _posted(*names: str) -> dict[str, str]:
    return {n: (request.form.get(n) or "").strip() for n in names}


def _required(values: dict[str, str], *names: str) -> dict[str, str]:
    return {n: _("obligatoire") for n in names if not values.get(n)}


# --- accounts ------------------------------------------------------------------------------

USER_FIELDS = ("login", "full_name", "email", "role", "organisation", "manager")


def _user_fields(session: Session, values: dict[str, str], errors: dict[str, str]):
    organisations = people.organisations(session=session)
    roles = [(r, _(ROLE_LABELS.get(r, r))) for r in ROLES]
    return [
        _view("login", _("Identifiant"), values, errors, required=True,
              hints=[_("Lettres, chiffres, . - _ @")]),
        _view("full_name", _("Nom affiché"), values, errors),
        _view("email", _("Adresse électronique"), values, errors,
              hints=[_("Pour les notifications")]),
        _view("role", _("Rôle"), values, errors, kind="enum", required=True, options=roles),
        _view("organisation", _("Organisation"), values, errors, kind="enum",
              options=[(str(o.id), o.name) for o in organisations],
              hints=[_("Obligatoire pour un acheteur")]),
        _view("manager", _("Responsable"), values, errors,
              hints=[_("Identifiant d'un compte de la même organisation (escalades)")]),
    ]  # fmt: skip


def _users_page(
    session: Session,
    actor: Actor,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    territories: list[int] | None = None,
    problem: str | None = None,
    status: int = 200,
):
    values, errors = values or {}, errors or {}
    return render_template(
        "admin/users.html",
        users=people.users(session=session, actor=actor),
        fields=_user_fields(session, values, errors),
        errors=errors,
        territories=referentiel.get_all_territories(session=session),
        chosen=set(territories or []),
        organisations={o.id: o.name for o in people.organisations(session=session)},
        roles=ROLE_LABELS,
        problem=problem,
    ), status


@blp.get("/comptes")
@admin_page
def users(*, session: Session, actor: Actor):
    """Comptes : liste, création, responsable, désactivation."""
    return _users_page(session, actor)


@blp.post("/comptes")
@admin_page
def create_user(*, session: Session, actor: Actor):
    """Ouvrir un compte."""
    values = _posted(*USER_FIELDS)
    password = request.form.get("password") or ""
    territory_ids = [int(t) for t in request.form.getlist("territoires") if t.isdigit()]
    errors = _required(values, "login", "role")
    if values["email"] and not EMAIL.match(values["email"]):
        errors["email"] = _("adresse invalide (exemple : prenom.nom@exemple.fr)")
    if values["organisation"] and not values["organisation"].isdigit():
        errors["organisation"] = _("organisation inconnue")
    if errors:
        return _users_page(
            session, actor, values=values, errors=errors, territories=territory_ids,
            problem=_("Compte refusé : corrigez les champs signalés."), status=422,
        )  # fmt: skip
    try:
        user = people.create_user(
            session=session,
            actor=actor,
            login=values["login"],
            role=values["role"],
            password=password or None,
            email=values["email"] or None,
            full_name=values["full_name"] or None,
            organisation_id=int(values["organisation"]) if values["organisation"] else None,
            territory_ids=territory_ids,
            manager=values["manager"] or None,
        )
    except FormInvalid as exc:
        session.rollback()
        return _users_page(
            session, actor, values=values, errors=exc.errors, territories=territory_ids,
            problem=exc.message, status=422,
        )  # fmt: skip
    flash(_("Compte « %(login)s » ouvert.", login=user.login), "success")
    return redirect(url_for("admin_web.users"))


@blp.post("/comptes/<int:user_id>/desactiver")
@admin_page
def disable_user(user_id: int, *, session: Session, actor: Actor):
    """Désactiver un compte (il ne peut plus se connecter ; ses jetons cessent de marcher)."""
    try:
        user = people.disable_user(session=session, actor=actor, user_id=user_id)
    except EngineError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin_web.users"))
    flash(_("Compte « %(login)s » désactivé.", login=user.login), "success")
    return redirect(url_for("admin_web.users"))


@blp.post("/comptes/<int:user_id>/responsable")
@admin_page
def set_manager(user_id: int, *, session: Session, actor: Actor):
    """Désigner (ou retirer) le responsable d'un compte."""
    manager = (request.form.get("manager") or "").strip() or None
    try:
        user = people.set_manager(session=session, actor=actor, user_id=user_id, manager=manager)
    except FormInvalid as exc:
        session.rollback()
        detail = exc.errors.get("manager", exc.message)
        flash(_("Responsable : %(error)s", error=detail), "error")
        return redirect(url_for("admin_web.users"))
    if manager:
        flash(_("%(login)s a pour responsable %(m)s.", login=user.login, m=manager), "success")
    else:
        flash(_("%(login)s n'a plus de responsable.", login=user.login), "success")
    return redirect(url_for("admin_web.users"))


# --- organisations -------------------------------------------------------------------------

ORGANISATION_FIELDS = ("kind", "name", "siret", "postcode", "city")


def _organisation_fields(values: dict[str, str], errors: dict[str, str]) -> list[FieldView]:
    kinds = list(ORGANISATION_KINDS.items())
    return [
        _view("kind", _("Nature"), values, errors, kind="enum", required=True, options=kinds),
        _view("name", _("Nom"), values, errors, required=True),
        _view("siret", _("SIRET"), values, errors, hints=[_("14 chiffres")]),
        _view("postcode", _("Code postal"), values, errors),
        _view("city", _("Commune"), values, errors),
    ]


def _organisations_page(session, values=None, errors=None, problem=None, status=200):
    values, errors = values or {}, errors or {}
    return render_template(
        "admin/organisations.html",
        organisations=people.organisations(session=session),
        kinds=ORGANISATION_KINDS,
        fields=_organisation_fields(values, errors),
        problem=problem,
    ), status


@blp.get("/organisations")
@admin_page
def organisations(*, session: Session, actor: Actor):
    """Organisations : liste et création."""
    return _organisations_page(session)


@blp.post("/organisations")
@admin_page
def create_organisation(*, session: Session, actor: Actor):
    """Enregistrer une organisation."""
    values = _posted(*ORGANISATION_FIELDS)
    errors = _required(values, "kind", "name")
    if values["postcode"] and not re.fullmatch(r"\d[\dAB]\d{3}", values["postcode"]):
        errors["postcode"] = _("5 caractères attendus (exemple : 94000)")
    if not errors:
        try:
            found = referentiel.create_organisation(
                session=session,
                actor=actor,
                kind=values["kind"],
                name=values["name"][:300],
                siret=values["siret"] or None,
                postcode=values["postcode"] or None,
                city=values["city"][:200] or None,
            )
        except FormInvalid as exc:
            session.rollback()
            errors = exc.errors or {"name": exc.message}
        else:
            flash(_("Organisation « %(name)s » enregistrée.", name=found.name), "success")
            return redirect(url_for("admin_web.organisations"))
    problem = _("Organisation refusée : corrigez les champs signalés.")
    return _organisations_page(session, values, errors, problem, 422)


# --- territories ---------------------------------------------------------------------------

TERRITORY_FIELDS = ("code", "name", "departements")


def _territory_fields(values: dict[str, str], errors: dict[str, str]) -> list[FieldView]:
    return [
        _view("code", _("Code"), values, errors, required=True,
              hints=[_("Court, sans espace (exemple : GPSEA) : préfixe des clés métier")]),
        _view("name", _("Nom"), values, errors, required=True),
        _view("departements", _("Départements"), values, errors,
              hints=[_("Numéros séparés par des virgules (exemple : 94, 91)")]),
    ]  # fmt: skip


def _territories_page(session, values=None, errors=None, problem=None, status=200):
    values, errors = values or {}, errors or {}
    return render_template(
        "admin/territories.html",
        territories=referentiel.get_all_territories(session=session),
        fields=_territory_fields(values, errors),
        problem=problem,
    ), status


@blp.get("/territoires")
@admin_page
def territories(*, session: Session, actor: Actor):
    """Territoires : liste et création."""
    return _territories_page(session)


@blp.post("/territoires")
@admin_page
def create_territory(*, session: Session, actor: Actor):
    """Enregistrer un territoire."""
    values = _posted(*TERRITORY_FIELDS)
    errors = _required(values, "code", "name")
    if values["code"] and not re.fullmatch(r"[A-Za-z0-9_-]{1,50}", values["code"]):
        errors["code"] = _("lettres, chiffres, - et _ seulement (50 au plus)")
    codes = [c.strip().upper() for c in values["departements"].split(",") if c.strip()]
    bad = [c for c in codes if not DEPARTEMENT.match(c)]
    if bad:
        errors["departements"] = _("numéro de département invalide : %(c)s", c=", ".join(bad))
    if not errors:
        areas: list[Any] = [("departement", c, _("Département %(c)s", c=c)) for c in codes]
        try:
            found = referentiel.create_territory(
                session=session,
                actor=actor,
                code=values["code"],
                name=values["name"][:300],
                areas=areas,
            )
        except FormInvalid as exc:
            session.rollback()
            errors = exc.errors or {"code": exc.message}
        else:
            flash(_("Territoire « %(name)s » enregistré.", name=found.name), "success")
            return redirect(url_for("admin_web.territories"))
    problem = _("Territoire refusé : corrigez les champs signalés.")
    return _territories_page(session, values, errors, problem, 422)
