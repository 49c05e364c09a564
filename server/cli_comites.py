"""Committee commands of the CLI: `clausier comites demarrer [--territoire CODE]`."""

from __future__ import annotations

import click

from workflows.engine.db import transaction
from workflows.gouvernance import committees

from .cli import _factory, main
from .config import Config


@main.group("comites", help="Comités techniques des territoires.")
def comites():
    pass


@comites.command(
    "demarrer",
    help="Démarre le comité technique semestriel des territoires qui n'en ont pas (sans doublon).",
)
@click.option("--territoire", help="Code d'un territoire (relance aussi un comité annulé).")
@click.pass_obj
def demarrer(config: Config, territoire: str | None):
    with transaction(_factory(config)) as session:
        started = committees.start_missing(session=session, territory=territoire, actor="cli")
    for item in started:
        click.echo(f"{item.territory} : comité technique démarré (instance {item.instance_id}).")
    if not started:
        click.echo("Aucun comité à démarrer : chaque territoire a déjà le sien.")
