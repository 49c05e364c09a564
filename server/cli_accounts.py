"""Account commands of the CLI: `clausier user add|token|disable|password|manager`."""

from __future__ import annotations

import sys

import click
from sqlalchemy import or_, select

from workflows.accounts import service as accounts
from workflows.engine.db import transaction
from workflows.engine.errors import FormInvalid
from workflows.referentiel.models import Organisation, Territory

from .cli import _factory, main
from .config import Config


def _read_password(stdin: bool) -> str | None:
    if not stdin:
        return None
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.BadParameter(
            "mot de passe vide sur l'entrée standard", param_hint="--password-stdin"
        )
    return password


def _organisation_id(session, value: str | None) -> int | None:
    if value is None:
        return None
    query = select(Organisation.id).where(
        or_(Organisation.siret == value, Organisation.name == value)
        | (Organisation.id == int(value) if value.isdigit() else False)
    )
    found = session.scalars(query).all()
    if len(found) != 1:
        raise FormInvalid("Compte refusé.", errors={"org": f"organisation « {value} » introuvable"})
    return found[0]


def _territory_ids(session, codes: tuple[str, ...]) -> list[int]:
    ids = []
    for code in codes:
        found = session.scalar(select(Territory.id).where(Territory.code == code))
        if found is None:
            raise FormInvalid(
                "Compte refusé.", errors={"territory": f"territoire « {code} » inconnu"}
            )
        ids.append(found)
    return ids


@main.group("user", help="Comptes des utilisateurs.")
def user_group():
    pass


@user_group.command("add", help="Crée un compte (mot de passe lu sur l'entrée standard).")
@click.argument("login")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["acheteur", "facilitateur", "coordinateur", "admin"]),
)
@click.option("--org", help="Organisation : numéro, SIRET ou nom.")
@click.option("--territory", "territories", multiple=True, help="Code de territoire (répétable).")
@click.option("--email", help="Adresse électronique (notifications).")
@click.option("--name", "full_name", help="Nom affiché.")
@click.option("--manager", help="Identifiant du responsable (même organisation) : escalades.")
@click.option("--password-stdin", is_flag=True, help="Lit le mot de passe sur l'entrée standard.")
@click.pass_obj
def add(config: Config, login, role, org, territories, email, full_name, manager, password_stdin):
    password = _read_password(password_stdin)
    with transaction(_factory(config)) as session:
        accounts.create(
            session=session,
            login=login,
            role=role,
            password=password,
            email=email,
            full_name=full_name,
            organisation_id=_organisation_id(session, org),
            territory_ids=_territory_ids(session, territories),
            manager=manager,
            actor="cli",
        )
    click.echo(f"Compte {login} créé ({role})" + (f", responsable {manager}." if manager else "."))


@user_group.command("token", help="Crée un jeton d'API personnel (affiché une seule fois).")
@click.argument("login")
@click.option("--name", default="jeton", show_default=True, help="Nom du jeton.")
@click.pass_obj
def token(config: Config, login: str, name: str):
    with transaction(_factory(config)) as session:
        _row, clear = accounts.create_token(session=session, login=login, name=name)
    click.echo(clear)


@user_group.command("disable", help="Désactive un compte (connexion et jetons refusés).")
@click.argument("login")
@click.pass_obj
def disable(config: Config, login: str):
    with transaction(_factory(config)) as session:
        accounts.disable(session=session, login=login)
    click.echo(f"Compte {login} désactivé.")


@user_group.command("password", help="Change le mot de passe (lu sur l'entrée standard).")
@click.argument("login")
@click.pass_obj
def password(config: Config, login: str):
    with transaction(_factory(config)) as session:
        accounts.set_password(session=session, login=login, password=_read_password(True))
    click.echo(f"Mot de passe de {login} changé.")


@user_group.command("manager", help="Désigne le responsable d'un compte (ou --none pour l'ôter).")
@click.argument("login")
@click.argument("manager", required=False)
@click.option("--none", "clear", is_flag=True, help="Retire le responsable.")
@click.pass_obj
def manager(config: Config, login: str, manager: str | None, clear: bool):
    if clear == (manager is not None):
        raise click.UsageError("indiquez soit le responsable, soit --none")
    with transaction(_factory(config)) as session:
        accounts.set_manager(session=session, login=login, manager=manager, actor="cli")
    done = f"Responsable de {login} : {manager}." if manager else f"{login} : sans responsable."
    click.echo(done)
