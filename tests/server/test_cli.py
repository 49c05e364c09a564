"""The operators' command line, against a real database of each kind."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from server.cli import main
from tests.conftest import BPMN_DIR, SCENARIOS


@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSIER_BPMN_DIR", str(BPMN_DIR))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output + (result.stderr or "")
        return result.output + (result.stderr or "")

    return run


def test_deploy_start_list_complete(cli):
    out = cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    assert "formulaire" in out and "v1" in out and "nouvelle version" in out
    assert "inchangé" in cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    out = cli("start", "formulaire", "--business-key", "M-1")
    assert re.search(r"Instance (\d+) démarrée", out)
    assert "M-1" in cli("instances")
    tasks = cli("tasks", "--group", "acheteur")
    task_id = tasks.split()[0]
    assert "Saisir le projet d'achat" in tasks
    values = json.dumps({"objet": "Voirie", "montant": 1000000, "nature": "travaux"})
    assert "running" in cli("complete", task_id, "--json", values, "--user", "alice")
    assert "Vérifier le calcul" in cli("tasks")


def test_bad_form_data_exits_non_zero_with_field_messages(cli):
    cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    cli("start", "formulaire")
    task_id = cli("tasks").split()[0]
    out = cli("complete", task_id, "--set", "montant=beaucoup", code=1)
    assert "montant" in out and "nombre" in out
    assert "objet" in out and "obligatoire" in out


def test_errors_are_messages_not_tracebacks(cli):
    out = cli("start", "inconnu", code=1)
    assert "introuvable" in out and "Traceback" not in out
    out = cli("deploy", "/nulle/part.bpmn", code=1)
    assert "introuvable" in out
    assert cli("complete", "x", "--json", "{pas du json", code=2)


def test_deploy_without_files_deploys_the_bpmn_folder(cli):
    out = cli("deploy")
    assert "marche_clause_sociale" in out and "part_main_oeuvre" in out


def test_migrate_instance_command(cli, tmp_path):
    from tests.workflows.engine.diagrams import chain

    path = tmp_path / "m.bpmn"
    path.write_bytes(chain("m", ["a"]))
    cli("deploy", str(path))
    cli("start", "m")
    out = cli("migrate-instance", "1", code=1)
    assert "version" in out
    path.write_bytes(chain("m", ["a", "b"]))
    cli("deploy", str(path))
    assert "migrée en version 2" in cli("migrate-instance", "1")


def test_lifecycle_commands_and_db_upgrade(cli):
    assert "à jour" in cli("db", "upgrade")
    cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    cli("start", "formulaire")
    assert "suspended" in cli("suspend", "1")
    assert "running" in cli("resume", "1")
    assert "cancelled" in cli("cancel", "1")
    assert "déjà" in cli("cancel", "1", code=1)


def test_help_is_in_french(cli):
    out = cli("--help")
    assert "Déploie des diagrammes" in out and "migrate-instance" in out


def test_json_that_is_not_an_object_is_a_usage_error(cli):
    cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    cli("start", "formulaire")
    out = cli("complete", cli("tasks").split()[0], "--json", "[1, 2]", code=2)
    assert "objet JSON" in out and "Traceback" not in out


def test_lists_are_paginated_and_filtered_by_group_in_the_database(cli):
    cli("deploy", str(SCENARIOS / "engine" / "formulaire.bpmn"))
    for _ in range(3):
        cli("start", "formulaire")
    out = cli("instances", "--limit", "2")
    assert len([line for line in out.splitlines() if "formulaire" in line]) == 2
    assert "1 ligne(s) de plus (--offset 2)" in out
    assert "formulaire" in cli("instances", "--offset", "2")
    assert len(cli("tasks", "--group", "coordinateur").splitlines()) == 3
    assert cli("tasks", "--group", "facilitateur").strip() == ""
