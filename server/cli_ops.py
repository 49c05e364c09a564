"""Operations commands of the CLI: backup and restore of the database, audit export of an
instance. Registered on `clausier` (see docs/exploitation.md, « Sauvegarde et restauration »).

SQLite: `backup` copies the live database with SQLite's online backup API (a consistent snapshot
taken while the server keeps reading and writing), turns the copy into one self-contained file
and checks it (`PRAGMA integrity_check`) before renaming it into place. `restore` checks the file
(a SQLite database, intact, with a Clausier schema no newer than this code), refuses to replace a
database that holds data without `--force` or one still in use, copies it to a temporary file
beside the database, migrates that copy to the latest schema, and renames it over the database:
the database is either the old one or the restored one, never half of each.

PostgreSQL: `backup` runs `pg_dump --format=custom`; `restore` runs `pg_restore --clean --if-exists
--no-owner --no-acl --single-transaction` into the configured database, then migrates to the
latest schema. The tools are looked for in CLAUSIER_PGBIN, then on PATH, then in Debian's
/usr/lib/postgresql/*/bin (newest first).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

import click
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from workflows.access import SYSTEM
from workflows.engine.db import make_engine, transaction

from .cli import _factory, main
from .config import Config
from .schema import alembic_config, upgrade

SQLITE_HEADER = b"SQLite format 3\x00"
DEBIAN_PGBIN = "/usr/lib/postgresql/*/bin"
# The tables that say "this is a Clausier database"
MARKER_TABLES = ("alembic_version", "instance", "process_definition")


class OpsError(click.ClickException):
    """A refusal or failure of an operations command: `Erreur : …` and exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"Erreur : {self.message}", err=True)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} Mio"


def _fsync(path: Path) -> None:
    """Flush a file (or a directory entry) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(target: Path) -> Path:
    """A temporary name in the target's directory (so that the final rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _discard(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def known_revisions() -> set[str]:
    """Every migration revision this code knows."""
    script = ScriptDirectory.from_config(alembic_config(None))  # type: ignore[arg-type]
    return {rev.revision for rev in script.walk_revisions()}


def _check_revision(revision: str | None, what: str) -> None:
    if not revision:
        raise OpsError(f"{what} n'a pas de version de schéma (table alembic_version vide).")
    if revision not in known_revisions():
        raise OpsError(
            f"{what} vient d'une version de Clausier plus récente ou inconnue (schéma "
            f"« {revision} ») : installez une version de Clausier qui la connaît."
        )


# --- SQLite ---------------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise OpsError(f"base SQLite sans fichier ordinaire ({url}) : rien à sauvegarder.")
    return Path(database)


def _integrity(conn: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong (nothing: [])."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows[:5]


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _not_empty(counts: dict[str, bool]) -> list[str]:
    return sorted(table for table, has_rows in counts.items() if has_rows)


def sqlite_tables_with_rows(conn: sqlite3.Connection) -> list[str]:
    """The tables (schema version apart) that hold at least one row."""
    return _not_empty(
        {
            table: conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0] == 1
            for table in _sqlite_tables(conn)
            if table != "alembic_version"
        }
    )


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)


def sqlite_backup(source: Path, target: Path) -> str:
    """Copy the live database at `source` into `target` (checked); returns a summary."""
    if not source.is_file():
        raise OpsError(f"base SQLite introuvable : {source}")
    temp = _temp_beside(target)
    _discard(temp)
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(temp)
            try:
                # one step: the copy is the database as of one committed transaction; in WAL
                # mode, the server's writers go on meanwhile
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                problems = _integrity(dst)
                revision = _sqlite_revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
        if problems:
            raise OpsError("copie incohérente (PRAGMA integrity_check) : " + "; ".join(problems))
        _fsync(temp)
        os.replace(temp, target)
        _fsync(target.parent)
    finally:
        _discard(temp)
    return f"révision {revision}, {_mib(target.stat().st_size)}, intégrité vérifiée"


def check_sqlite_backup(path: Path) -> str:
    """Refuse anything but an intact Clausier SQLite database; returns its schema revision."""
    if not path.is_file():
        raise OpsError(f"fichier introuvable : {path}")
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise OpsError(f"{path} n'est pas une base SQLite : ce n'est pas une sauvegarde Clausier.")
    try:
        conn = _open_ro(path)
        try:
            problems = _integrity(conn)
            if problems:
                raise OpsError(
                    f"{path} est endommagé (PRAGMA integrity_check) : " + "; ".join(problems)
                )
            if not set(MARKER_TABLES) <= set(_sqlite_tables(conn)):
                raise OpsError(f"{path} est une base SQLite, mais pas une base Clausier.")
            revision = _sqlite_revision(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise OpsError(f"{path} est illisible ou endommagé : {exc}") from exc
    _check_revision(revision, str(path))
    return revision


def _lock_out_others(target: Path) -> sqlite3.Connection | None:
    """A connection holding the database exclusively: refused while another process uses it
    (None when the file is no database at all: nobody can be using it)."""
    conn = sqlite3.connect(target, timeout=0, isolation_level=None)
    try:
        # leaving WAL needs every other connection closed: a running server keeps one open
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        conn.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as exc:
        conn.close()
        raise OpsError(
            f"la base {target} est en cours d'utilisation : arrêtez le serveur et "
            f"l'ordonnanceur avant de restaurer ({exc})."
        ) from exc
    except sqlite3.DatabaseError:  # not a database (replaced with --force)
        conn.close()
        return None
    return conn


def sqlite_restore(backup: Path, target: Path, force: bool) -> str:
    """Replace the database at `target` with the backup, migrated to the latest schema."""
    revision = check_sqlite_backup(backup)
    if target.exists() and target.stat().st_size > 0:
        try:
            conn = _open_ro(target)
            try:
                filled = sqlite_tables_with_rows(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            filled = ["(base illisible)"]
        if filled and not force:
            raise OpsError(
                f"la base {target} contient déjà des données ({', '.join(filled[:6])}"
                f"{'…' if len(filled) > 6 else ''}) : ajoutez --force pour la remplacer."
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(target)
    _discard(temp)
    lock = None
    try:
        src = _open_ro(backup)
        try:
            dst = sqlite3.connect(temp)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        engine = make_engine(f"sqlite:///{temp}")
        try:
            upgrade(engine)  # an older backup is brought to this code's schema
        finally:
            engine.dispose()
        conn = sqlite3.connect(temp)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")  # everything in the file, no -wal beside
            problems = _integrity(conn)
            migrated = _sqlite_revision(conn)
        finally:
            conn.close()
        if problems:
            raise OpsError("copie restaurée incohérente : " + "; ".join(problems))
        _fsync(temp)
        if target.exists():
            lock = _lock_out_others(target)
        for suffix in ("-wal", "-shm", "-journal"):  # left by the replaced database, if any
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(temp, target)
        _fsync(target.parent)
    finally:
        if lock is not None:
            lock.close()
        _discard(temp)
    upgraded = f", mise à jour en {migrated}" if migrated != revision else ""
    return f"sauvegarde en révision {revision}{upgraded}"


# --- PostgreSQL -----------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name) or [0])


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (pg_dump, pg_restore)."""
    configured = os.environ.get("CLAUSIER_PGBIN")
    if configured:
        candidate = Path(configured) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise OpsError(f"« {name} » introuvable dans CLAUSIER_PGBIN ({configured}).")
    found = shutil.which(name)
    if found:
        return found
    debian = sorted(Path("/").glob(DEBIAN_PGBIN.lstrip("/") + "/" + name), key=_version_key)
    if debian:
        return str(debian[-1])
    raise OpsError(
        f"« {name} » introuvable : installez le client PostgreSQL (paquet Debian "
        f"postgresql-client, de la même version que le serveur ou plus récent) ou indiquez son "
        f"dossier dans CLAUSIER_PGBIN."
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI (password left out of the command line) and its environment."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
        raise OpsError(f"{what} a échoué (code {result.returncode}) :\n{detail}")
    return result.stdout


def pg_backup(url: str, target: Path) -> str:
    conninfo, env = _libpq(url)
    temp = _temp_beside(target)
    temp.unlink(missing_ok=True)
    try:
        _run(
            [pg_tool("pg_dump"), "--format=custom", f"--file={temp}", f"--dbname={conninfo}"],
            env,
            "pg_dump",
        )
        revision = check_pg_backup(temp)
        _fsync(temp)
        os.replace(temp, target)
        _fsync(target.parent)
    finally:
        temp.unlink(missing_ok=True)
    return f"révision {revision}, {_mib(target.stat().st_size)}, archive vérifiée (pg_restore)"


def _dump_tables(path: Path) -> set[str]:
    """The tables an archive holds (from `pg_restore --list`)."""
    listing = _run([pg_tool("pg_restore"), "--list", str(path)], dict(os.environ), "pg_restore")
    tables = set()
    for line in listing.splitlines():
        # "215; 1259 16386 TABLE public instance postgres"
        match = re.match(r"^\d+;\s+\d+\s+\d+\s+TABLE\s+\S+\s+(\S+)\s", line)
        if match:
            tables.add(match.group(1))
    return tables


def check_pg_backup(path: Path) -> str:
    """Refuse anything but a pg_dump archive of a Clausier database; returns its revision."""
    if not path.is_file():
        raise OpsError(f"fichier introuvable : {path}")
    with path.open("rb") as file:
        if file.read(5) != b"PGDMP":
            raise OpsError(
                f"{path} n'est pas une archive pg_dump (--format=custom) : ce n'est pas une "
                f"sauvegarde Clausier pour PostgreSQL."
            )
    try:
        tables = _dump_tables(path)
    except OpsError as exc:
        raise OpsError(f"{path} n'est pas une archive pg_dump lisible : {exc.message}") from exc
    if not set(MARKER_TABLES) <= tables:
        raise OpsError(f"{path} est une archive pg_dump, mais pas d'une base Clausier.")
    data = _run(
        [pg_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)],
        dict(os.environ),
        "pg_restore",
    )
    # COPY public.alembic_version (version_num) FROM stdin;\n0008_manager\n\.
    match = re.search(r"^COPY \S*alembic_version .*?;\n(.+?)\n\\\.", data, re.M | re.S)
    revision = match.group(1).split("\n")[0].strip() if match else None
    _check_revision(revision, str(path))
    return revision  # type: ignore[return-value]


def pg_tables_with_rows(connection) -> list[str]:
    tables = inspect(connection).get_table_names()
    return _not_empty(
        {
            table: bool(connection.scalar(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")')))
            for table in tables
            if table != "alembic_version"
        }
    )


def pg_restore(url: str, backup: Path, force: bool) -> str:
    revision = check_pg_backup(backup)
    in_dump = _dump_tables(backup)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            filled = pg_tables_with_rows(connection)
            if filled and not force:
                raise OpsError(
                    f"la base contient déjà des données ({', '.join(filled[:6])}"
                    f"{'…' if len(filled) > 6 else ''}) : ajoutez --force pour la remplacer."
                )
            # Tables of a newer schema than the backup's would stop the migrations that
            # recreate them: they go (the archive's own tables are replaced by pg_restore).
            for table in sorted(set(inspect(connection).get_table_names()) - in_dump):
                connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    finally:
        engine.dispose()
    conninfo, env = _libpq(url)
    _run(
        [
            pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(backup),
        ],
        env,
        "pg_restore",
    )
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            migrated = connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()
    upgraded = f", mise à jour en {migrated}" if migrated != revision else ""
    return f"sauvegarde en révision {revision}{upgraded}"


# --- Commands -------------------------------------------------------------------------------------


def _dialect(config: Config) -> str:
    return make_url(config.database_url).get_backend_name()


@main.command(
    help="Sauvegarde la base dans FICHIER : copie SQLite cohérente (possible serveur en marche) "
    "ou archive pg_dump (format custom) pour PostgreSQL."
)
@click.argument("fichier", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Remplace FICHIER s'il existe déjà.")
@click.pass_obj
def backup(config: Config, fichier: Path, force: bool):
    if fichier.exists() and not force:
        raise OpsError(f"{fichier} existe déjà : ajoutez --force pour le remplacer.")
    if not fichier.parent.is_dir():
        raise OpsError(f"dossier introuvable : {fichier.parent}")
    dialect = _dialect(config)
    if dialect == "sqlite":
        summary = sqlite_backup(sqlite_path(config.database_url), fichier)
    elif dialect == "postgresql":
        summary = pg_backup(config.database_url, fichier)
    else:
        raise OpsError(f"base {dialect} : seules SQLite et PostgreSQL sont prises en charge.")
    click.echo(f"Sauvegarde écrite : {fichier} ({summary}).")


@main.command(
    help="Restaure la base depuis FICHIER (sauvegarde de `clausier backup`), puis met son "
    "schéma à jour. Serveur et ordonnanceur arrêtés."
)
@click.argument("fichier", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Remplace une base qui contient déjà des données.")
@click.pass_obj
def restore(config: Config, fichier: Path, force: bool):
    dialect = _dialect(config)
    if dialect == "sqlite":
        target = sqlite_path(config.database_url)
        summary = sqlite_restore(fichier, target, force)
    elif dialect == "postgresql":
        summary = pg_restore(config.database_url, fichier, force)
        target = make_url(config.database_url).render_as_string(hide_password=True)
    else:
        raise OpsError(f"base {dialect} : seules SQLite et PostgreSQL sont prises en charge.")
    click.echo(f"Base restaurée : {target} ({summary}).")


@main.command(
    "export-instance",
    help="Exporte en JSON l'historique complet d'une instance (audit) : instance, événements, "
    "tâches, minuteries.",
)
@click.argument("instance_id", type=int)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Fichier (défaut : écran)."
)
@click.option(
    "--as-user",
    "as_user",
    help="Exporte ce que verrait ce compte (portée, masquage pour un acheteur) ; "
    "par défaut : tout, en administrateur.",
)
@click.pass_obj
def export_instance(config: Config, instance_id: int, output: Path | None, as_user: str | None):
    from workflows.accounts import service as accounts

    from .api import process_service
    from .api.instances import HistorySchema

    with transaction(_factory(config)) as session:
        actor = SYSTEM
        if as_user:
            actor = accounts.actor_of(accounts.get_by_login(session=session, login=as_user))
        export = process_service.audit(session=session, actor=actor, instance_id=instance_id)
        payload = json.dumps(HistorySchema().dump(export), ensure_ascii=False, indent=2)
    if output is None:
        click.echo(payload)
    else:
        output.write_text(payload + "\n", encoding="utf-8")
        click.echo(f"Historique de l'instance {instance_id} écrit dans {output}.", err=True)
