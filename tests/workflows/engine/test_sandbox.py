"""The RestrictedPython sandbox: refusals, limits, helpers and SpiffWorkflow semantics."""

from __future__ import annotations

import threading
import time
import timeit
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from tests.workflows.engine.sandbox_attacks import ATTACKS
from workflows.engine import sandbox, timers
from workflows.engine.sandbox import (
    HELPERS,
    SandboxedEnvironment,
    SandboxError,
    add_business_days,
    add_months,
    business_days_between,
    check_source,
    iso,
    make_script_engine,
    months_between,
    next_business_day,
    now,
    parse_date,
    parse_datetime,
    round_half_up,
    today,
)

CALIBRATION = {
    "montant_ht": 1_000_000,
    "part_main_oeuvre": 0.5,
    "taux_insertion": 0.05,
    "cout_horaire": 30,
}
FORMULA = "round_half_up(montant_ht * part_main_oeuvre * taux_insertion / cout_horaire)"


def fake_task(data: dict | None = None) -> SimpleNamespace:
    """Just enough of a SpiffWorkflow task for PythonScriptEngine and its exceptions."""
    workflow = SimpleNamespace(spec=SimpleNamespace(file="test.bpmn"))
    workflow.top_workflow = workflow
    spec = SimpleNamespace(name="tache", bpmn_id="tache", bpmn_name="Tâche")
    return SimpleNamespace(data={} if data is None else data, task_spec=spec, workflow=workflow)


def run(engine, kind: str, source: str, data: dict | None = None):
    task = fake_task(data)
    if kind == "script":
        engine.execute(task, source)
        return task.data
    return engine.evaluate(task, source)


# ------------------------------------------------------------------ attacks


def test_attack_list_is_well_formed():
    names = [name for name, _, _ in ATTACKS]
    assert len(ATTACKS) >= 20
    assert len(set(names)) == len(names)
    assert {kind for _, kind, _ in ATTACKS} == {"script", "expression"}


@pytest.mark.parametrize(("name", "kind", "source"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_quickly_with_default_limits(name, kind, source):
    engine = make_script_engine()
    started = time.perf_counter()
    with pytest.raises(WorkflowTaskException) as caught:
        run(engine, kind, source)
    assert time.perf_counter() - started < 3
    assert isinstance(caught.value.__context__, (SandboxError, NameError)), name


@pytest.mark.parametrize(("name", "kind", "source"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_by_the_environment_with_small_limits(name, kind, source):
    env = SandboxedEnvironment(timeout_s=0.5, max_steps=20_000, max_size=100_000)
    with pytest.raises((SandboxError, NameError)):
        if kind == "script":
            env.execute(source, {})
        else:
            env.evaluate(source, {})


@pytest.mark.parametrize(
    ("source", "mode", "fragment"),
    [
        ("import os", "exec", "import interdit"),
        ("[].__class__", "eval", "__class__"),
        ("(x for x in []).gi_frame", "eval", "gi_frame"),
        ("eval('1')", "eval", "Eval calls are not allowed"),
        ("class A:\n    pass", "exec", "classe interdite"),
        ("try:\n    x = 1\nfinally:\n    return", "exec", "finally"),
        ("-" * 10_000 + "1", "eval", "imbriquées"),
        ("x = (", "exec", "SyntaxError"),
        ("montant >", "eval", "SyntaxError"),
        ("x = 1", "eval", "SyntaxError"),
    ],
)
def test_check_source_refuses_at_deployment(source, mode, fragment):
    message = check_source(source, mode=mode)
    assert message is not None and fragment in message


def test_check_source_accepts_valid_code_and_joins_errors():
    condition = "montant > 40000 and disposition == 'clause_insertion'"
    assert check_source(condition, mode="eval") is None
    assert check_source(f"heures = {FORMULA}\nfor i in range(3):\n    pass", mode="exec") is None
    assert check_source("\n  montant > 1\n", mode="eval") is None
    message = check_source("a = x.__class__\nb = y._secret", mode="exec")
    assert "Line 1" in message and "Line 2" in message and " ; " in message
    with pytest.raises(ValueError):
        check_source("1", mode="single")


def test_refusal_messages_say_what_was_refused():
    env = SandboxedEnvironment(timeout_s=0.05, max_steps=10**9)
    with pytest.raises(SandboxError, match=r"temps d'exécution dépassé \(0.05 s\)"):
        env.execute("while True:\n    pass", {})
    env = SandboxedEnvironment(max_steps=1000)
    with pytest.raises(SandboxError, match="boucle trop longue : plus de 1000 étapes"):
        env.execute("n = 0\nwhile n >= 0:\n    n = n + 1", {})
    with pytest.raises(SandboxError, match="boucle trop longue"):
        env.evaluate("[x for x in range(5000)]", {})
    with pytest.raises(SandboxError, match="résultat trop grand"):
        env.evaluate("'x' * 10**7", {})
    with pytest.raises(SandboxError, match="accès à l'attribut 'format' interdit"):
        env.evaluate("'{}'.format(1)", {})
    with pytest.raises(SandboxError, match="modification de 'date' interdite"):
        env.execute("date.today = 1", {})
    with pytest.raises(SandboxError, match="code refusé : Line 1: .*__class__"):
        env.evaluate("().__class__", {})
    with pytest.raises(SandboxError, match="récursion trop profonde"):
        env.execute("def f():\n    return f()\nf()", {})


def test_huge_decimals_from_task_data_are_refused_before_int_conversion():
    env = SandboxedEnvironment()
    data = {"enorme": Decimal("1e999999"), "montant": Decimal("12.5")}
    for expression in (
        "int(enorme)",
        "round(enorme)",
        "ceil(enorme)",
        "floor(enorme)",
        "'%d' % enorme",
        "f'{enorme:f}'",
        "enorme.as_integer_ratio()",
    ):
        with pytest.raises(SandboxError):
            env.evaluate(expression, data)
    assert env.evaluate("(int(montant), round(montant), ceil(montant), floor(montant))", data) == (
        12,
        12,
        13,
        12,
    )


def test_percent_format_widths_are_read_like_cpython():
    widths = sandbox._percent_widths
    assert widths("%s, %5d, %-10.3f, %%, %(a)7s, %((b))2s") == 5 + 13 + 7 + 2
    assert widths("Tél 0612345678, SIRET 12345678901234 : %s") == 0
    assert widths("%(" * 1000) == 0  # incomplete key: the formatting itself fails
    with pytest.raises(SandboxError):
        widths("%.*f")


def test_limits_leave_room_for_reasonable_work():
    env = SandboxedEnvironment()
    data = {"lignes": [{"heures": i % 7} for i in range(10_000)]}
    env.execute(
        "total = 0\nfor l in lignes:\n    total += l['heures']\n"
        "texte = ', '.join(str(l['heures']) for l in lignes[:100])\n"
        "grille = [[0] * 100 for i in range(100)]",
        data,
    )
    assert data["total"] == sum(i % 7 for i in range(10_000))
    assert len(data["grille"]) == 100
    assert env.evaluate("len('x' * 999_999)", {}) == 999_999
    assert env.evaluate("2 ** 1000 > 10 ** 300", {}) is True


# ------------------------------------------------------------------ evaluation and execution


def test_arithmetic_and_conditions():
    engine = make_script_engine()
    data = {"montant": 50_000, "disposition": "clause_insertion", "taux": Decimal("0.05")}
    assert run(engine, "expression", "montant > 40000 and disposition == 'clause_insertion'", data)
    assert not run(engine, "expression", "montant > 90000 or disposition == 'autre'", data)
    assert run(engine, "expression", "montant * taux", data) == Decimal("2500.00")
    assert run(engine, "expression", "[1, 2] * 2 + [3]", data) == [1, 2, 1, 2, 3]
    assert run(engine, "expression", "(7 // 2, 7 % 2, 2 ** 10, 1 << 3, -7 / 2)", data) == (
        3,
        1,
        1024,
        8,
        -3.5,
    )
    assert run(engine, "expression", "'%s : %.2f €' % ('total', 12.345)", data) == "total : 12.35 €"
    assert run(engine, "expression", "f'{montant:>8} {disposition!r}'", data) == (
        "   50000 'clause_insertion'"
    )


def test_calibration_formula():
    engine = make_script_engine()
    assert run(engine, "expression", FORMULA, dict(CALIBRATION)) == 833
    data = run(engine, "script", f"heures = {FORMULA}", dict(CALIBRATION))
    assert data["heures"] == 833 and isinstance(data["heures"], int)


def test_external_context_is_visible_and_task_data_wins():
    env = SandboxedEnvironment()
    assert env.evaluate("dmninputexpr == 'x'", {}, {"dmninputexpr": "x"})
    assert env.evaluate("a", {"a": 1}, {"a": 2}) == 1


def test_script_outputs_land_in_task_data_without_helpers_or_functions():
    env = SandboxedEnvironment()
    data = {"debut": date(2025, 1, 31), "a_supprimer": 1}
    env.execute(
        "def double(x):\n    return 2 * x\n"
        "f = double\naujourdhui = today\nn = double(21)\n"
        "fin = add_months(debut, 1)\nlimite = parse_datetime('2025-03-01T10:00')\n"
        "delai = timedelta(days=3)\nmontant = round_half_up(10.005, 2)\n"
        "gen = (i for i in range(3))\nt = (1, 'a')\nvide = None\ndel a_supprimer",
        data,
    )
    assert data == {
        "debut": date(2025, 1, 31),
        "n": 42,
        "fin": date(2025, 2, 28),
        "limite": parse_datetime("2025-03-01T10:00"),
        "delai": timedelta(days=3),
        "montant": 10.01,
        "t": (1, "a"),
        "vide": None,
    }
    assert not set(data) & set(HELPERS)


def test_script_dicts_and_lists_are_writable():
    env = SandboxedEnvironment()
    data = {"existante": [1, 2, 3]}
    env.execute(
        "d = {}\nd['a'] = 1\nd['b'] = [0]\nd['b'].append(2)\ndel d['a']\n"
        "l = [0, 0, 0]\nl[1] = 5\nl[2:] = [7, 8]\nexistante.append(4)\n"
        "a, (b, c) = 1, [2, 3]\nfor i, (x, y) in enumerate([(1, 2)]):\n    paire = (i, x, y)\n"
        "s = 'ab'\ns += 'c'\nk = [1]\nk += [2]\nk *= 2",
        data,
    )
    assert data["d"] == {"b": [0, 2]}
    assert data["l"] == [0, 5, 7, 8]
    assert data["existante"] == [1, 2, 3, 4]
    assert (data["a"], data["b"], data["c"], data["paire"]) == (1, 2, 3, (0, 1, 2))
    assert (data["s"], data["k"]) == ("abc", [1, 2, 1, 2])


def test_except_clauses_catch_errors_but_not_refusals():
    env = SandboxedEnvironment(max_steps=10_000)
    data = {"duree_annees": "abc"}
    env.execute(
        "try:\n    duree_annees = max(1, int(duree_annees))\nexcept:\n"
        "    duree_annees = 1\ntry:\n    x = 1 // 0\nexcept:\n    x = -1\n"
        "finally:\n    fini = True",
        data,
    )
    assert data == {"duree_annees": 1, "x": -1, "fini": True}
    with pytest.raises(SandboxError, match="boucle trop longue"):
        env.execute(
            "while True:\n    try:\n        while True:\n            pass\n"
            "    except:\n        pass",
            {},
        )


def test_task_data_may_shadow_helper_names():
    env = SandboxedEnvironment()
    data = {"date": "2025-01-01"}
    env.execute("jour = parse_date(date)", data)
    assert data == {"date": "2025-01-01", "jour": date(2025, 1, 1)}


def test_failed_script_leaves_task_data_untouched_and_private_keys_survive():
    env = SandboxedEnvironment()
    data = {"x": 1, "_interne": "garde", "_getattr_": "pas un garde"}
    with pytest.raises(SandboxError):
        env.execute("x = 2\ny = 'a' * 10**9", data)
    assert data == {"x": 1, "_interne": "garde", "_getattr_": "pas un garde"}
    env.execute("y = x.real", data)
    assert data == {"x": 1, "_interne": "garde", "_getattr_": "pas un garde", "y": 1}


def test_evaluate_does_not_rebind_task_data():
    env = SandboxedEnvironment()
    data = {"x": 1}
    assert env.evaluate("(x := 5) + 1", data) == 6
    assert data == {"x": 1}


def test_builtins_offered_behave_like_python():
    env = SandboxedEnvironment()
    assert env.evaluate(
        "isinstance([], list) and isinstance('a', (str, int)) and not isinstance(1, dict)", {}
    )
    assert env.evaluate("list(range(3)) + sorted({3, 1}) + list(tuple('ab'))", {}) == [
        0,
        1,
        2,
        1,
        3,
        "a",
        "b",
    ]
    assert env.evaluate("dict(a=1, **{'b': 2})", {}) == {"a": 1, "b": 2}
    assert env.evaluate("str(12) + str.upper('x') + ', '.join(['a', 'b'])", {}) == "12Xa, b"
    assert env.evaluate("(round(2.567, 2), ceil(1.2), floor(1.8), sum([1, 2], 10))", {}) == (
        2.57,
        2,
        1,
        13,
    )
    assert env.evaluate("max(x * x for x in [1, -3, 2])", {}) == 9
    assert env.evaluate("sorted(['bb', 'a'], key=lambda s: len(s))", {}) == ["a", "bb"]


def test_call_service_is_refused():
    with pytest.raises(SandboxError):
        SandboxedEnvironment().call_service({}, operation_name="x")
    with pytest.raises(WorkflowTaskException):
        make_script_engine().call_service(fake_task(), operation_name="x")


def test_helpers_are_exactly_the_documented_allow_list():
    assert set(HELPERS) == {
        "ArithmeticError",
        "IndexError",
        "KeyError",
        "LookupError",
        "NameError",
        "TypeError",
        "ValueError",
        "ZeroDivisionError",
        "date",
        "datetime",
        "timedelta",
        "today",
        "now",
        "parse_date",
        "parse_datetime",
        "add_days",
        "add_months",
        "add_business_days",
        "business_days_between",
        "next_business_day",
        "months_between",
        "iso",
        "round_half_up",
        "ceil",
        "floor",
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "enumerate",
        "float",
        "int",
        "len",
        "list",
        "max",
        "min",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "isinstance",
        "True",
        "False",
        "None",
    }
    # usable by trusted code outside any sandboxed run too
    assert HELPERS["str"]([1]) == "[1]" and HELPERS["list"](HELPERS["zip"]("ab", "cd")) == [
        ("a", "c"),
        ("b", "d"),
    ]


# ------------------------------------------------------------------ date helpers


def test_add_months_clamps_to_month_end():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months("2025-05-15", 12) == date(2026, 5, 15)
    assert add_months(datetime(2025, 1, 31, 9, 30), 1) == datetime(2025, 2, 28, 9, 30)


def test_add_business_days_skips_weekends_and_holidays():
    assert add_business_days(date(2025, 10, 3), 1) == date(2025, 10, 6)  # Friday → Monday
    assert add_business_days(date(2025, 10, 6), -1) == date(2025, 10, 3)
    assert add_business_days(date(2025, 10, 3), 0) == date(2025, 10, 3)
    # Ascension 2027 is Thursday 6 May.
    assert add_business_days(date(2027, 5, 5), 1) == date(2027, 5, 7)
    # Wednesday 24 December 2025: Christmas on Thursday; 26 December only in Alsace-Moselle.
    assert add_business_days(date(2025, 12, 24), 2, "75") == date(2025, 12, 29)
    assert add_business_days(date(2025, 12, 24), 2) == date(2025, 12, 29)
    assert add_business_days(date(2025, 12, 24), 2, "57") == date(2025, 12, 30)
    assert add_business_days("2025-12-24", 2, "67") == date(2025, 12, 30)
    assert add_business_days(date(2025, 12, 24), 2, 68) == date(2025, 12, 30)
    # Good Friday (18 April 2025) is a holiday in Moselle only; Easter Monday everywhere.
    assert add_business_days(date(2025, 4, 17), 1) == date(2025, 4, 18)
    assert add_business_days(date(2025, 4, 17), 1, "57") == date(2025, 4, 22)
    with pytest.raises(ValueError):
        add_business_days(date(2025, 1, 1), 1, "999")


def test_business_days_between_and_next_business_day():
    assert business_days_between(date(2025, 12, 24), date(2025, 12, 31), "75") == 4
    assert business_days_between(date(2025, 12, 24), date(2025, 12, 31), "57") == 3
    assert business_days_between(date(2025, 12, 31), date(2025, 12, 24)) == -4
    assert business_days_between("2025-10-03", "2025-10-03") == 0
    assert next_business_day(date(2025, 12, 24), "57") == date(2025, 12, 24)
    assert next_business_day(date(2025, 12, 25)) == date(2025, 12, 26)
    assert next_business_day(date(2025, 12, 25), "57") == date(2025, 12, 29)


def test_months_between_counts_whole_months():
    assert months_between(date(2025, 1, 15), date(2025, 3, 14)) == 1
    assert months_between(date(2025, 1, 15), date(2025, 3, 15)) == 2
    assert months_between(date(2025, 1, 31), date(2025, 2, 28)) == 1
    assert months_between(date(2025, 3, 15), date(2025, 1, 15)) == -2
    assert months_between("2024-02-29", "2025-02-28") == 12


def test_today_and_now_follow_the_engine_clock():
    timers.set_clock(lambda: datetime(2027, 3, 1, 23, 30, tzinfo=UTC))
    try:
        assert today() == date(2027, 3, 2)  # already the 2nd in Paris
        assert now() == datetime(2027, 3, 1, 23, 30, tzinfo=UTC)
        assert now().utcoffset() == timedelta(hours=1)
        assert SandboxedEnvironment().evaluate("add_business_days(today(), 5)", {}) == date(
            2027, 3, 9
        )
    finally:
        timers.set_clock(None)


def test_parsing_today_now_iso_and_rounding():
    assert parse_date("2025-03-01") == date(2025, 3, 1)
    assert parse_date("2025-03-01T23:30:00+00:00") == date(2025, 3, 2)  # already the 2nd in Paris
    assert parse_date(datetime(2025, 3, 1, 23, 30)) == date(2025, 3, 1)
    assert parse_date(date(2025, 3, 1)) == date(2025, 3, 1)
    summer = parse_datetime("2025-07-01T10:00")
    assert summer.utcoffset() == timedelta(hours=2) and summer.hour == 10
    assert parse_datetime(date(2025, 1, 1)).utcoffset() == timedelta(hours=1)
    assert parse_datetime("2025-01-01T09:00:00Z").hour == 10
    assert now().tzinfo is not None and str(now().tzinfo) == "Europe/Paris"
    assert abs((now().date() - today()).days) <= 1
    assert iso(date(2025, 1, 2)) == "2025-01-02"
    assert iso(parse_datetime("2025-01-02T03:04")) == "2025-01-02T03:04:00+01:00"
    assert round_half_up(2.5) == 3 and isinstance(round_half_up(2.5), int)
    assert round_half_up(-2.5) == -3
    assert round_half_up(2.675, 2) == 2.68  # round() gives 2.67
    assert round_half_up(Decimal("0.125"), 2) == 0.13


# ------------------------------------------------------------------ engine properties


def test_threads_sharing_one_engine_do_not_interfere():
    engine = make_script_engine(max_steps=50_000)
    script = "n = depart\nfor i in range(40000):\n    n = n + 1"
    results: dict[int, list[int]] = {}
    errors: list[Exception] = []

    def worker(depart: int) -> None:
        try:
            for _ in range(4):
                results.setdefault(depart, []).append(
                    run(engine, "script", script, {"depart": depart})["n"]
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {k * 1000: [k * 1000 + 40_000] * 4 for k in range(4)}


def test_a_timing_out_thread_does_not_stop_the_others():
    engine = make_script_engine(timeout_s=0.3, max_steps=10**9)
    outcome: list[str] = []

    def looping() -> None:
        try:
            run(engine, "script", "while True:\n    pass")
        except WorkflowTaskException as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=looping)
    thread.start()
    for _ in range(50):
        assert run(engine, "expression", "montant > 1", {"montant": 2})
    thread.join()
    assert len(outcome) == 1 and "temps d'exécution dépassé" in outcome[0]


def test_compiled_code_is_cached_and_evaluation_is_cheap():
    expression = "montant > 40000 and disposition == 'clause_insertion'"
    assert sandbox._compile(expression, "eval") is sandbox._compile(expression, "eval")
    env = SandboxedEnvironment()
    data = {"montant": 50_000, "disposition": "clause_insertion"}
    env.evaluate(expression, data)
    number = 2000
    per_call = timeit.timeit(lambda: env.evaluate(expression, data), number=number) / number
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per evaluation"


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
                  targetNamespace="http://clausier.test/bpmn">
  <bpmn:process id="calibrage" isExecutable="true">
    <bpmn:startEvent id="debut"/>
    <bpmn:scriptTask id="calcul"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="choix" default="f_petit"/>
    <bpmn:endEvent id="fin_grand"/>
    <bpmn:endEvent id="fin_petit"/>
    <bpmn:sequenceFlow id="f1" sourceRef="debut" targetRef="calcul"/>
    <bpmn:sequenceFlow id="f2" sourceRef="calcul" targetRef="choix"/>
    <bpmn:sequenceFlow id="f_grand" sourceRef="choix" targetRef="fin_grand">
      <bpmn:conditionExpression>heures &gt; 500</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_petit" sourceRef="choix" targetRef="fin_petit"/>
  </bpmn:process>
</bpmn:definitions>"""


def workflow(script: str, engine) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_xml(etree.fromstring(BPMN.format(script=script).encode()), filename="t.bpmn")
    wf = BpmnWorkflow(parser.get_spec("calibrage"), script_engine=engine)
    wf.get_next_task().data.update(CALIBRATION, debut=date(2025, 12, 24))
    return wf


def test_real_workflow_runs_scripts_and_conditions_in_the_sandbox():
    script = f"heures = {FORMULA}\necheance = add_business_days(debut, 2, '57')"
    wf = workflow(script, make_script_engine())
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.data["heures"] == 833 and wf.data["echeance"] == date(2025, 12, 30)
    done = [t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)]
    assert "fin_grand" in done and "fin_petit" not in done


def test_real_workflow_reports_the_refusal_and_its_line():
    wf = workflow("x = 1\nwhile True:\n    x = x + 1", make_script_engine(timeout_s=0.2))
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert "SandboxError" in str(caught.value)
    assert caught.value.line_number == 2 and caught.value.error_line == "while True:"
