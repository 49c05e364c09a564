"""Notification commands of the CLI; registered on `clausier`."""

from __future__ import annotations

import click

from notifications import queue, service
from workflows.access import SYSTEM
from workflows.engine.db import transaction

from .cli import _factory, main
from .config import Config


@main.group(help="Notifications : rappels, envois, échecs.")
def notifications():
    pass


@notifications.command("failed", help="Liste les notifications abandonnées après les essais.")
@click.pass_obj
def failed(config: Config):
    with transaction(_factory(config)) as session:
        rows = service.failed(session=session)
        for row in rows:
            click.echo(
                f"{row.id:8}  {row.created_at:%d/%m/%Y %H:%M}  {row.recipient:20} {row.kind:15} "
                f"{row.attempts} essai(s)  {row.title}\n          ↳ {row.last_error or '-'}"
            )
        stuck = queue.stuck(session=session)
        for job in stuck:
            click.echo(
                f"avis {job.id:3}  {job.created_at:%d/%m/%Y %H:%M}  {job.kind:15} "
                f"instance {job.instance_id}  {job.attempts} essai(s)\n          ↳ {job.last_error}"
            )
    if not rows and not stuck:
        click.echo("Aucune notification en échec.")


@notifications.command("resend", help="Remet une notification en file d'envoi.")
@click.argument("notification_id", type=int)
@click.pass_obj
def resend(config: Config, notification_id: int):
    with transaction(_factory(config)) as session:
        service.resend(session=session, actor=SYSTEM, notification_id=notification_id)
    click.echo(f"Notification {notification_id} remise en file d'envoi.")


@notifications.command(
    "run", help="Écrit les avis dus et les rappels, puis envoie la file une fois."
)
@click.option("--digest", is_flag=True, help="Envoie aussi les récapitulatifs quotidiens.")
@click.pass_obj
def run(config: Config, digest: bool):
    from .scheduler import compute_reminders, deliver_outbox, send_digests, send_notices

    factory, settings = _factory(config), config.notifications
    send_notices(factory, settings)
    written = compute_reminders(factory, settings)
    digests = send_digests(factory, settings) if digest else 0
    sent = deliver_outbox(factory, settings)
    click.echo(f"{written} rappel(s) écrit(s), {digests} récapitulatif(s), {sent} envoi(s).")
