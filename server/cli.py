"""Command line for operators: `clausier --help`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from workflows.engine import runtime
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy as deploy_files
from workflows.engine.deploy import read_files
from workflows.engine.errors import EngineError
from workflows.engine.models import HumanTask, Instance, ProcessDefinition

from .config import Config
from .schema import upgrade


def _factory(config: Config):
    """Sessions on the configured database, schema upgraded; closed with the command."""
    engine = make_engine(config.database_url)
    click.get_current_context().call_on_close(engine.dispose)
    upgrade(engine)
    return make_session_factory(engine)


def _parse_vars(pairs: tuple[str, ...], raw_json: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if raw_json:
        try:
            parsed = json.loads(raw_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"JSON invalide : {exc}", param_hint="--json") from exc
        if not isinstance(parsed, dict):
            raise click.BadParameter("un objet JSON est attendu", param_hint="--json")
        values.update(parsed)
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"« {pair} » : NOM=VALEUR attendu", param_hint="--set")
        name, value = pair.split("=", 1)
        try:
            values[name] = json.loads(value)
        except json.JSONDecodeError:
            values[name] = value
    return values


class Group(click.Group):
    """Turns domain refusals into a readable message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EngineError as exc:
            click.echo(f"Erreur : {exc.message}", err=True)
            for field, message in exc.errors.items():
                click.echo(f"  - {field} : {message}", err=True)
            sys.exit(1)


@click.group(cls=Group, help="Clausier : serveur BPM des clauses sociales des marchés publics.")
@click.pass_context
def main(ctx):
    ctx.obj = Config.from_env()


@main.command(help="Lance le serveur web (et l'ordonnanceur intégré).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port d'écoute.")
@click.option(
    "--demo", is_flag=True, help="Charge les données de démonstration si la base est vide."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processus web : 1 = waitress dans ce processus ; plus = gunicorn (voir docs/).",
)
@click.pass_obj
def serve(config: Config, host: str, port: int, demo: bool, workers: int):
    import signal

    from .app import create_app
    from .observability import configure_logging, tune_gc
    from .scheduler import start_scheduler

    configure_logging()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop gunicorn and the scheduler too
    if config.secure_cookies is None and host in ("127.0.0.1", "localhost", "::1"):
        config.secure_cookies = False  # plain http on this machine: the cookie must still flow
    app = create_app(config)
    factory = app.extensions["clausier.sessions"]
    if demo:
        from .demo import load_demo

        with transaction(factory) as session:
            created = load_demo(session=session)
        from .demo import DEMO_ACCOUNTS, DEMO_PASSWORD

        click.echo(f"Données de démonstration : {created} marchés créés.")
        logins = ", ".join(login for login, _role, _buyer in DEMO_ACCOUNTS)
        click.echo(f"Comptes de démonstration : {logins} (mot de passe : {DEMO_PASSWORD})")
    scheduler = start_scheduler(factory, config.timer_poll_seconds) if config.scheduler else None
    tune_gc()
    click.echo(f"Clausier est prêt : http://{host}:{port}/  (base : {config.database_url})")
    try:
        if workers == 1:
            import waitress

            waitress.serve(app, host=host, port=port, threads=8, _quiet=True)
        else:
            _gunicorn(config, host, port, workers)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def _gunicorn(config: Config, host: str, port: int, workers: int) -> None:
    """gunicorn with `workers` processes on the same settings; this process keeps the scheduler."""
    import os
    import subprocess

    env = {
        **os.environ,
        "CLAUSIER_DATABASE_URL": config.database_url,
        "CLAUSIER_SECRET_KEY": config.secret_key,
        "CLAUSIER_BIND": f"{host}:{port}",
        "CLAUSIER_WORKERS": str(workers),
        "CLAUSIER_DEPLOY_ON_START": "false",  # done above, once
    }
    if config.secure_cookies is not None:
        env["CLAUSIER_SECURE_COOKIES"] = "true" if config.secure_cookies else "false"
    command = [sys.executable, "-m", "gunicorn", "-c", "python:server.gunicorn_conf"]
    process = subprocess.Popen([*command, "server.wsgi:app"], env=env)
    try:
        process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@main.command(help="Déploie des diagrammes (.bpmn, .dmn) ; sans fichier, tout le dossier bpmn/.")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def deploy(config: Config, files: tuple[Path, ...]):
    with transaction(_factory(config)) as session:
        results = deploy_files(
            session=session, files=read_files(list(files) or [config.bpmn_dir]), actor="cli"
        )
    for item in results:
        state = "nouvelle version" if item.created else "inchangé"
        click.echo(f"{item.kind:8} {item.key:30} v{item.version}  ({state})")


@main.command(help="Démarre une instance du processus KEY (dernière version).")
@click.argument("key")
@click.option("--business-key", help="Clé métier (référence du marché).")
@click.option("--set", "pairs", multiple=True, help="Variable NOM=VALEUR (valeur JSON acceptée).")
@click.option("--json", "raw_json", help="Variables en objet JSON.")
@click.pass_obj
def start(config: Config, key: str, business_key: str | None, pairs, raw_json):
    with transaction(_factory(config)) as session:
        instance = runtime.start(
            session=session,
            key=key,
            business_key=business_key,
            variables=_parse_vars(pairs, raw_json),
            actor="cli",
        )
    click.echo(f"Instance {instance.id} démarrée ({instance.status}).")


LIMIT = click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(min=1), help="Lignes au plus."
)
OFFSET = click.option(
    "--offset", default=0, show_default=True, type=click.IntRange(min=0), help="Lignes à sauter."
)


def _page(session, query, limit: int, offset: int) -> list:
    """One page of `query`; says on stderr how many rows lie beyond it."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(limit).offset(offset)).all()
    if total > offset + len(rows):
        click.echo(
            f"… {total - offset - len(rows)} ligne(s) de plus (--offset {offset + len(rows)})",
            err=True,
        )
    return rows


@main.command(help="Liste les instances.")
@click.option("--status", help="running, suspended, error, completed, cancelled")
@click.option("--key", help="Clé du processus.")
@LIMIT
@OFFSET
@click.pass_obj
def instances(config: Config, status: str | None, key: str | None, limit: int, offset: int):
    with transaction(_factory(config)) as session:
        query = select(Instance, ProcessDefinition).join(ProcessDefinition).order_by(Instance.id)
        if status:
            query = query.where(Instance.status == status)
        if key:
            query = query.where(ProcessDefinition.key == key)
        for inst, definition in _page(session, query, limit, offset):
            error = f"  ⚠ {inst.error_element}: {inst.error_message}" if inst.error_message else ""
            click.echo(
                f"{inst.id:6}  {definition.key} v{definition.version}  {inst.status:10} "
                f"{inst.business_key or '-'}{error}"
            )


@main.command(help="Liste les tâches à faire.")
@click.option("--instance", "instance_id", type=int, help="Numéro d'instance.")
@click.option("--group", help="Groupe candidat (acheteur, facilitateur, coordinateur).")
@LIMIT
@OFFSET
@click.pass_obj
def tasks(config: Config, instance_id: int | None, group: str | None, limit: int, offset: int):
    from .api.scope import in_group

    with transaction(_factory(config)) as session:
        query = select(HumanTask).where(HumanTask.state == "open").order_by(HumanTask.created_at)
        if instance_id:
            query = query.where(HumanTask.instance_id == instance_id)
        if group:
            query = query.where(in_group(group))
        for (task,) in _page(session, query, limit, offset):
            due = task.due_at.strftime("%d/%m/%Y") if task.due_at else "-"
            click.echo(
                f"{task.id}  instance {task.instance_id}  {task.name}  "
                f"[{', '.join(task.candidate_groups)}]  échéance {due}"
            )


@main.command(help="Termine la tâche TASK_ID avec les données du formulaire.")
@click.argument("task_id")
@click.option("--set", "pairs", multiple=True, help="Champ NOM=VALEUR (valeur JSON acceptée).")
@click.option("--json", "raw_json", help="Champs en objet JSON.")
@click.option(
    "--user", default="cli", show_default=True, help="Auteur enregistré dans l'historique."
)
@click.pass_obj
def complete(config: Config, task_id: str, pairs, raw_json, user: str):
    with transaction(_factory(config)) as session:
        instance = runtime.complete_task(
            session=session, task_id=task_id, data=_parse_vars(pairs, raw_json), actor=user
        )
    click.echo(f"Tâche terminée ; instance {instance.id} : {instance.status}.")
    if instance.error_message:
        click.echo(f"Erreur sur {instance.error_element} : {instance.error_message}", err=True)


def _instance_action(name: str, action, help_text: str):
    @main.command(name=name, help=help_text)
    @click.argument("instance_id", type=int)
    @click.pass_obj
    def command(config: Config, instance_id: int):
        with transaction(_factory(config)) as session:
            instance = action(session=session, instance_id=instance_id, actor="cli")
        click.echo(f"Instance {instance.id} : {instance.status}.")

    return command


_instance_action("suspend", runtime.suspend, "Suspend une instance.")
_instance_action("resume", runtime.resume, "Reprend une instance suspendue.")
_instance_action("cancel", runtime.cancel, "Annule une instance.")
_instance_action("retry", runtime.retry, "Relance l'étape en erreur d'une instance.")


@main.command(
    "migrate-instance", help="Passe une instance à une version plus récente du processus."
)
@click.argument("instance_id", type=int)
@click.option("--version", type=int, help="Version cible (par défaut la dernière).")
@click.pass_obj
def migrate_instance(config: Config, instance_id: int, version: int | None):
    with transaction(_factory(config)) as session:
        instance = runtime.migrate(
            session=session, instance_id=instance_id, version=version, actor="cli"
        )
        definition = session.get(ProcessDefinition, instance.definition_id)
    click.echo(f"Instance {instance.id} migrée en version {definition.version}.")


@main.command(help="Lance l'ordonnanceur seul (minuteries, rappels), sans serveur web.")
@click.option("--poll", type=float, help="Période de scrutation en secondes.")
@click.pass_obj
def scheduler(config: Config, poll: float | None):
    import signal

    from .observability import configure_logging, tune_gc
    from .scheduler import run_scheduler

    configure_logging()
    tune_gc()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(
        f"Ordonnanceur démarré (scrutation toutes les {poll or config.timer_poll_seconds} s)."
    )
    run_scheduler(_factory(config), poll or config.timer_poll_seconds)


@main.command("fire-timers", help="Déclenche une fois les minuteries échues.")
@click.pass_obj
def fire_timers(config: Config):
    from .scheduler import fire_due_timers

    click.echo(f"{fire_due_timers(_factory(config))} instance(s) avancée(s).")


@main.group(help="Base de données.")
def db():
    pass


@db.command("upgrade", help="Met le schéma de la base à jour.")
@click.pass_obj
def db_upgrade(config: Config):
    _factory(config)
    click.echo("Schéma à jour.")


# Commands defined in other modules register themselves on `main` when imported.
from . import cli_accounts, cli_comites, cli_domain, cli_notifications, cli_ops  # noqa: E402,F401
