"""Domain commands of the CLI (imports, data protection); registered on `clausier`."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from workflows.access import Actor
from workflows.engine.db import transaction
from workflows.referentiel.models import Territory
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


@main.command(
    "import-decp",
    help="Importe un fichier DECP (format v2, JSON ou XML) : marchés, acheteurs, titulaires, "
    "dispositions sociales. Relançable sans doublon.",
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--territoire",
    "territory_code",
    help="Code du territoire des marchés dont le lieu d'exécution n'est couvert par aucun.",
)
@USER
@click.pass_obj
def import_decp(config: Config, path: str, territory_code: str | None, user: str):
    from workflows.decp import reader
    from workflows.decp import service as decp

    records = reader.read_path(path)
    with transaction(_factory(config)) as session:
        default = None
        if territory_code:
            default = session.scalar(select(Territory.id).where(Territory.code == territory_code))
            if default is None:
                raise click.BadParameter(f"territoire « {territory_code} » inconnu")
        with click.progressbar(records, label="Import DECP", file=sys.stderr, show_pos=True) as bar:
            report = decp.import_records(
                session=session, actor=_operator(user), records=bar, default_territory_id=default
            )
        pending = decp.to_reconcile(session=session, actor=_operator(user))
        lines = [f"{m.reference} — {m.subject} (DECP {r.decp_id})" for r, m in pending]
    click.echo(
        f"{report.created} marché(s) créé(s), {report.updated} mis à jour, "
        f"{report.unchanged} inchangé(s), {len(report.rejected)} rejeté(s)."
    )
    for item in report.rejected:
        click.echo(f"Rejeté : {item.decp_id} — champ {item.field} : {item.reason}")
    for item in report.warnings:
        click.echo(f"Avertissement : {item.decp_id} — {item.field} : {item.reason}")
    if lines:
        click.echo(
            f"À rapprocher ({len(lines)}) : clause sociale déclarée, "
            "marché inconnu du facilitateur :"
        )
        for line in lines:
            click.echo(f"  {line}")


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["pdf", "xlsx", "csv"]), default="pdf", show_default=True
)


def _write(data: bytes, output: str) -> None:
    with open(output, "wb") as handle:
        handle.write(data)
    click.echo(f"Écrit dans {output} ({len(data)} octets).")


@main.command("bilan", help="Exporte le bilan d'un marché (détail par pseudonyme, sans nom).")
@click.argument("reference")
@FORMAT
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True)
@USER
@click.pass_obj
def bilan(config: Config, reference: str, fmt: str, output: str, user: str):
    from workflows.bilans import exports as bilans
    from workflows.marches import service as marches

    with transaction(_factory(config)) as session:
        actor = _operator(user)
        marche = marches.get_by_reference(session=session, actor=actor, reference=reference)
        data = bilans.export_bilan(session=session, actor=actor, marche_id=marche.id, fmt=fmt)
    _write(data, output)


@main.command("comite", help="Exporte les indicateurs d'un territoire face à ses objectifs.")
@click.argument("territory_code")
@click.option(
    "--comite",
    "committee",
    type=click.Choice(["comite_pilotage", "comite_technique"]),
    default="comite_pilotage",
    show_default=True,
)
@click.option(
    "--du", "start", type=click.DateTime(formats=["%Y-%m-%d"]), help="Début (AAAA-MM-JJ)."
)
@click.option("--au", "end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Fin (AAAA-MM-JJ).")
@FORMAT
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True)
@USER
@click.pass_obj
def comite(config: Config, territory_code, committee, start, end, fmt, output, user):
    from workflows.indicateurs import exports as indicateurs

    with transaction(_factory(config)) as session:
        territory_id = session.scalar(select(Territory.id).where(Territory.code == territory_code))
        if territory_id is None:
            raise click.BadParameter(f"territoire « {territory_code} » inconnu")
        data = indicateurs.export_pack(
            session=session,
            actor=_operator(user),
            fmt=fmt,
            territory_id=territory_id,
            period_start=start.date() if start else None,
            period_end=end.date() if end else None,
            committee=committee,
        )
    _write(data, output)
