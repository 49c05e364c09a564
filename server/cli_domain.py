"""Domain commands of the CLI (imports, data protection); registered on `clausier`."""

from __future__ import annotations

import json

import click

from workflows.access import Actor
from workflows.engine.db import transaction
from workflows.rgpd import service as rgpd

from .cli import _factory, main
from .config import Config


def _operator(login: str) -> Actor:
    """The CLI runs with an operator's rights; the login goes into the access log."""
    return Actor(login=login, role="admin")


USER = click.option(
    "--user", default="cli", show_default=True, help="Opérateur inscrit au journal des accès."
)


@main.group("rgpd", help="Données personnelles des bénéficiaires (RGPD).")
def rgpd_group():
    pass


@rgpd_group.command(
    "retention",
    help="Anonymise (ou supprime, sans heures ni sorties) les bénéficiaires sans contrat "
    "depuis plus de N mois.",
)
@click.option(
    "--months", "months", type=click.IntRange(min=1), required=True, help="Durée en mois."
)
@click.option(
    "--date",
    "today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date de référence (AAAA-MM-JJ, défaut : aujourd'hui).",
)
@click.option("--simulation", is_flag=True, help="Affiche le résultat sans rien modifier.")
@USER
@click.pass_obj
def retention(config: Config, months: int, today, simulation: bool, user: str):
    with transaction(_factory(config)) as session:
        report = rgpd.apply_retention(
            session=session,
            months=months,
            today=today.date() if today else None,
            actor=_operator(user),
        )
        if simulation:
            session.rollback()
    prefix = "Simulation : " if simulation else ""
    click.echo(
        f"{prefix}{len(report.anonymised)} bénéficiaire(s) anonymisé(s), "
        f"{len(report.deleted)} supprimé(s) (durée de conservation : {months} mois)."
    )


@rgpd_group.command("export", help="Exporte en JSON tout ce qui est détenu sur une personne.")
@click.argument("beneficiary_id", type=int)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), help="Fichier (défaut : écran)."
)
@USER
@click.pass_obj
def export(config: Config, beneficiary_id: int, output: str | None, user: str):
    with transaction(_factory(config)) as session:
        data = rgpd.export_person(
            session=session, actor=_operator(user), beneficiary_id=beneficiary_id
        )
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        click.echo(f"Export écrit dans {output}.")
    else:
        click.echo(text)


@rgpd_group.command(
    "erase", help="Efface une personne à sa demande (anonymisation ; les totaux sont gardés)."
)
@click.argument("beneficiary_id", type=int)
@USER
@click.pass_obj
def erase(config: Config, beneficiary_id: int, user: str):
    with transaction(_factory(config)) as session:
        person = rgpd.erase_person(
            session=session, actor=_operator(user), beneficiary_id=beneficiary_id
        )
    click.echo(f"Bénéficiaire {beneficiary_id} effacé (désormais {person.pseudonym}).")
