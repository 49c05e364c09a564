"""RestrictedPython sandbox for the untrusted scripts and expressions of BPMN/DMN diagrams."""

from __future__ import annotations

import ast
import functools
import operator
import re
import sys
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sized
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from math import ceil, floor
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .business_calendar import (
    add_business_days,
    add_days,
    add_months,
    business_days_between,
    months_between,
    next_business_day,
    now,
    parse_date,
    parse_datetime,
    today,
)

MAX_INT_BITS = 100_000
TOTAL_FACTOR = 10  # one run may allocate at most TOTAL_FACTOR * max_size elements in all
_DATA = (str, int, float, bool, type(None), list, dict, tuple, date, datetime, timedelta, Decimal)
_SEQS, _SIZED = (str, bytes, list, tuple), (str, bytes, list, tuple, dict, set, frozenset)
_DENIED = frozenset(
    {
        "format",
        "format_map",
        "mro",
        "clear_cache",
        "no_cache",
        "from_file",
        "from_bytes",
        "as_integer_ratio",
    }
)
_CHEAP = frozenset(  # methods of sized types that allocate O(1): not charged
    "append add pop popitem get setdefault insert remove discard clear index count find rfind "
    "startswith endswith keys values items sort reverse isdigit isalpha isnumeric isdecimal "
    "isspace isupper islower isalnum isascii isdisjoint issubset issuperset".split()
)
_OPS = {
    s: (getattr(operator, n), getattr(operator, "i" + n.rstrip("_")))
    for s, n in (
        ("+", "add"),
        ("-", "sub"),
        ("*", "mul"),
        ("/", "truediv"),
        ("//", "floordiv"),
        ("%", "mod"),
        ("**", "pow"),
        ("<<", "lshift"),
        (">>", "rshift"),
        ("&", "and_"),
        ("|", "or_"),
        ("^", "xor"),
    )
}
_GUARDED_OPS = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}
_PERCENT_SPEC, _PARENS = re.compile(r"[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?"), re.compile("[()]")
_local = threading.local()


class SandboxError(Exception):
    """A script or expression refused by the sandbox (forbidden code or exceeded limit)."""


# ------------------------------------------------------------------ helpers offered to scripts


def iso(d: date) -> str:
    """ISO 8601 text of a date or datetime."""
    if not isinstance(d, date):
        raise TypeError(f"iso() attend une date, pas {type(d).__name__}")
    return d.isoformat()


def round_half_up(x: Any, ndigits: int = 0) -> int | float:
    """Round half away from zero through Decimal: int when ndigits == 0, else float."""
    q = Decimal(str(x)).quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)
    return int(q) if ndigits == 0 else float(q)


# ------------------------------------------------------------------ size estimates


def _repr_size(value: Any, limit: int) -> int:
    """Upper estimate of len(repr(value)); stops as soon as it exceeds limit."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            total += len(v) + 3
        elif isinstance(v, Decimal) and v.is_finite():
            total += 32 + abs(_number(v).adjusted())
        elif isinstance(v, Collection) and not isinstance(v, range):
            total += 2 + 4 * len(v)
            if total <= limit:
                stack.extend(v.items() if isinstance(v, Mapping) else v)
        else:
            total += 32
    return total


def _number(x: Any) -> Any:
    """x itself, unless it is an int or a Decimal too big for cheap arithmetic."""
    if (isinstance(x, int) and x.bit_length() > MAX_INT_BITS) or (
        isinstance(x, Decimal) and x.is_finite() and x.adjusted() > MAX_INT_BITS // 3
    ):
        raise SandboxError(f"nombre trop grand (plus de {MAX_INT_BITS} bits)")
    return x


def _op_size(op: str, a: Any, b: Any, limit: int) -> int:
    """Size of `a op b` estimated before computing it; refuses integers that are too big."""
    if isinstance(a, int) and isinstance(b, int):
        bits = (
            a.bit_length() + b.bit_length()
            if op == "*"
            else abs(a).bit_length() * b
            if op == "**" and abs(a) > 1
            else a.bit_length() + b
            if op == "<<" and a
            else 0
        )
        if bits > MAX_INT_BITS:
            raise SandboxError(f"entier trop grand (plus de {MAX_INT_BITS} bits)")
        return 0
    if op == "+" and isinstance(a, _SEQS) and isinstance(b, _SEQS):
        return len(a) + len(b)
    if op == "*" and isinstance(a, _SEQS) and isinstance(b, int):
        return len(a) * b
    if op == "*" and isinstance(a, int) and isinstance(b, _SEQS):
        return a * len(b)
    if op != "%" or not isinstance(a, (str, bytes)):
        return 0
    text = a.decode("latin-1") if isinstance(a, bytes) else a
    return len(text) + _repr_size(b, limit) + _percent_widths(text)


def _percent_widths(text: str) -> int:
    """Sum of the widths and precisions of a %-format, scanned in one pass like CPython."""
    total, i = 0, text.find("%")
    while 0 <= i < len(text) - 1:
        i += 1
        if text[i] == "(":  # mapping key, possibly with nested parentheses
            depth = 0
            for paren in _PARENS.finditer(text, i):
                depth += 1 if paren[0] == "(" else -1
                if not depth:
                    i = paren.end()
                    break
            else:
                return total  # incomplete key: the formatting itself fails
        spec = _PERCENT_SPEC.match(text, i)
        assert spec is not None  # every part of the pattern is optional
        if "*" in spec.groups():
            raise SandboxError("largeur « * » interdite dans un format %")
        total += int(spec[1] or 0) + int(spec[2] or 0)
        i = text.find("%", spec.end() + 1)
    return total


def _len_or_zero(obj: Any, *args: Any, **kwargs: Any) -> int:
    return len(obj) if isinstance(obj, Sized) else 0


_ESTIMATES: dict[str, Any] = {  # result size of methods that can allocate a lot, before the call
    **dict.fromkeys(("ljust", "rjust", "center", "zfill"), lambda s, width, *a: width),
    "expandtabs": lambda s, tabsize=8: len(s) * max(tabsize, 1),
    "replace": lambda s, old, new, count=-1: (
        len(s)
        + max(len(new) - len(old), 0)
        * (len(s) + 1 if not old else s.count(old) if count < 0 else min(count, s.count(old)))
    ),
    "join": lambda sep, items: (
        len(sep) * len(items) + sum(len(i) for i in items if isinstance(i, (str, bytes)))
    ),
    "translate": lambda s, table: (
        len(s) * max([1] + [len(v) for v in table.values() if isinstance(v, (str, bytes))])
        if isinstance(table, Mapping)
        else len(s)
    ),
    "to_bytes": lambda n, length=1, *a, **k: length,
    "extend": lambda seq, items: len(items),
}


# ------------------------------------------------------------------ guards


def _current() -> _Run:
    """The run of this thread; outside any run (trusted callers), a fresh unhurried one."""
    run = getattr(_local, "run", None)
    return run if run is not None else _Run(float("inf"), sys.maxsize, 1_000_000)


class _Run:
    """Per-call state (steps, deadline, allocations); its bound methods are the guards."""

    def __init__(self, timeout: float, max_steps: int, max_size: int) -> None:
        self.steps, self.allocated, self.max_steps = 0, 0, max_steps
        self.timeout, self.deadline, self.max_size = timeout, time.monotonic() + timeout, max_size

    def guards(self) -> dict[str, Any]:
        """The names the instrumented code calls, bound to this run."""
        return {
            "_tick_": self.tick,
            "_getiter_": self.getiter,
            "_getattr_": self.getattr,
            "_getitem_": self.getitem,
            "_binop_": self.binop,
            "_inplacevar_": self.inplacevar,
            "_fmt_": self.fmt,
            "_sized_": self.sized,
            **_STATELESS_GUARDS,
        }

    def tick(self) -> None:
        """One loop iteration or function call: refuse past max_steps or the deadline."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise SandboxError(f"boucle trop longue : plus de {self.max_steps} étapes")
        if time.monotonic() > self.deadline:
            raise SandboxError(f"temps d'exécution dépassé ({self.timeout} s)")

    def charge(self, size: int) -> None:
        """Account for a result of `size` elements; refuse it, or the run's total, if too big."""
        if size > self.max_size:
            raise SandboxError(f"résultat trop grand ({size} éléments, limite {self.max_size})")
        self.allocated += max(size, 0)
        if self.allocated > TOTAL_FACTOR * self.max_size:
            raise SandboxError("résultat trop grand : trop de mémoire allouée par le script")

    def getiter(self, iterable: Any, charge: bool = False) -> Iterator[Any]:
        """Iterate with one tick per item (comprehensions, unpacking, zip, enumerate)."""
        for item in iterable:
            self.tick()
            if charge:
                self.charge(len(item))
            yield item

    def getattr(self, obj: Any, name: str) -> Any:
        """safer_getattr, a deny-list, and size-checked methods of str, bytes, list, dict…"""
        if name in _DENIED:
            raise SandboxError(f"accès à l'attribut '{name}' interdit")
        value = safer_getattr_raise(obj, name)
        base = obj._wrapped if type(obj) is _Checked else obj
        owner = base if isinstance(base, type) else type(base)
        if callable(value) and (
            (name in _ESTIMATES and issubclass(owner, (str, bytes, int, list)))
            or (issubclass(owner, _SIZED) and name not in _CHEAP)
        ):
            return self._checked(value, base, name, unbound=isinstance(base, type))
        return value

    def _checked(self, method: Any, obj: Any, name: str, unbound: bool) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            target, rest = (args[0], args[1:]) if unbound and args else (obj, args)
            if name in ("join", "extend") and rest:
                rest = (list(rest[0]), *rest[1:])
            estimate = _ESTIMATES.get(name, _len_or_zero)
            self.charge(estimate(target, *rest, **kwargs))
            return method(*((target, *rest) if unbound and args else rest), **kwargs)

        return call

    def getitem(self, obj: Any, key: Any) -> Any:
        value = obj[key]
        if type(key) is slice and isinstance(value, _SIZED):
            self.charge(len(value))
        return value

    def binop(self, op: str, a: Any, b: Any, inplace: bool = False) -> Any:
        """`a op b` for + * ** << %, refused when the result would be too big."""
        size = _op_size(op, a, b, self.max_size)
        if size:
            self.charge(size)
        return _OPS[op][inplace](a, b)

    def inplacevar(self, op: str, a: Any, b: Any) -> Any:
        return self.binop(op[:-1], a, b, inplace=True)

    def fmt(self, value: Any, conversion: int, spec: str) -> str:
        """One f-string field, with its repr and width bounded."""
        self.charge(_repr_size(value, self.max_size) + sum(map(int, re.findall(r"\d+", spec))))
        value = {115: str, 114: repr, 97: ascii}[conversion](value) if conversion > 0 else value
        return format(value, spec)

    def sized(self, value: Any) -> Any:
        """Charge a value unpacked with * or ** or assigned to a slice."""
        if isinstance(value, Sized):
            self.charge(len(value))
        return value


def _reraise() -> None:
    """First statement of every except clause: let the sandbox's own refusals through."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (SandboxError, MemoryError)):
        raise exc


def _write(obj: Any) -> Any:
    if type(obj) in (dict, list):
        return obj
    raise SandboxError(
        f"modification de '{getattr(obj, '__name__', type(obj).__name__)}' interdite"
    )


_STATELESS_GUARDS = {
    "_write_": _write,
    "_reraise_": _reraise,
    "_iter_": iter,
    "_apply_": lambda f, *a, **k: f(*a, **k),
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
}


class _Checked(type):
    """Stand-in for int, str, list…: isinstance works, construction is size-checked."""

    _wrapped: type

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._wrapped)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._wrapped, name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        run, wrapped = _current(), cls._wrapped
        if wrapped is str:
            run.charge(_repr_size(args[0], run.max_size) if args else 0)
        result = wrapped(*(map(_number, args) if wrapped is int else args), **kwargs)
        if wrapped is int:
            return _number(result)
        if wrapped is not str:
            run.charge(len(result))
        return result


def _range(*args: int) -> range:
    r, limit = range(*args), _current().max_size
    if r.step * (r.stop - r.start) > limit * r.step * r.step:
        raise SandboxError(f"range trop grand (limite {limit} éléments)")
    return r


def _sorted(*args: Any, **kwargs: Any) -> list[Any]:
    result = sorted(*args, **kwargs)
    _current().charge(len(result))
    return result


def _sum(items: Any, start: Any = 0) -> Any:
    if not isinstance(start, (int, float, Decimal, timedelta)):
        raise SandboxError("sum() : seul un départ numérique ou timedelta est accepté")
    return sum(items, start)


def _round(x: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and abs(ndigits) > 1000:
        raise SandboxError("round() : ndigits trop grand")
    return round(_number(x), ndigits)


# ------------------------------------------------------------------ compilation


def _call(func: str, args: list[Any], like: ast.AST, stmt: bool = False) -> Any:
    """New call node `func(*args)` (as a statement if stmt) located at `like`."""
    node: Any = ast.Call(func=ast.Name(func, ast.Load()), args=args, keywords=[])
    node = ast.Expr(node) if stmt else node
    for sub in ast.walk(node):
        if "lineno" in sub._attributes and not hasattr(sub, "lineno"):
            ast.copy_location(sub, like)
    return node


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus step ticks, size guards and a few more refusals."""

    def _refuse(self, node: Any, message: str) -> Any:
        self.error(node, message)
        return node

    def visit_Import(self, node: Any) -> Any:
        return self._refuse(node, "import interdit")

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        return self._refuse(node, "définition de classe interdite")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in ("print", "printed"):
            return self._refuse(node, f"'{node.id}' interdit")
        return super().visit_Name(node)

    def visit_Try(self, node: ast.Try) -> Any:
        for sub in (sub for stmt in node.finalbody for sub in ast.walk(stmt)):
            if isinstance(sub, (ast.Return, ast.Break, ast.Continue)):  # would swallow refusals
                self.error(sub, "return, break et continue interdits dans un bloc « finally »")
        node = super().visit_Try(node)
        for handler in node.handlers:  # except clauses must not swallow the sandbox's refusals
            handler.body.insert(0, _call("_reraise_", [], handler, stmt=True))
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, _call("_tick_", [], node, stmt=True))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        it = node.iter  # the body ticks, so iterate without _getiter_'s per-item tick
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name):
            if it.func.id == "_getiter_":
                it.func.id = "_iter_"
            elif it.func.id == "_iter_unpack_sequence_":
                it.args[2] = ast.copy_location(ast.Name("_iter_", ast.Load()), it)
        node.body.insert(0, _call("_tick_", [], node, stmt=True))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _call("_tick_", [], node, stmt=True))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = ast.copy_location(
            ast.BoolOp(ast.Or(), [_call("_tick_", [], node), node.body]), node
        )
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = super().visit_BinOp(node)
        op = _GUARDED_OPS.get(type(node.op))
        if op is None:
            return node
        return _call("_binop_", [ast.Constant(op), node.left, node.right], node)

    def visit_Starred(self, node: ast.Starred) -> Any:
        node = super().visit_Starred(node)
        if isinstance(node.ctx, ast.Load):
            node.value = _call("_sized_", [node.value], node)
        return node

    def visit_Dict(self, node: ast.Dict) -> Any:
        node = super().visit_Dict(node)
        node.values = [
            v if k else _call("_sized_", [v], v)
            for k, v in zip(node.keys, node.values, strict=True)
        ]
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        node = super().visit_Assign(node)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice) for t in node.targets
        ):
            node.value = _call("_sized_", [node.value], node)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = super().visit_FormattedValue(node)
        spec = node.format_spec or ast.Constant("")
        node.value = _call("_fmt_", [node.value, ast.Constant(node.conversion), spec], node)
        node.conversion, node.format_spec = -1, None
        return node


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> CodeType:
    """Restricted and instrumented code object of a source, cached per (source, mode)."""
    compiler = {"exec": compile_restricted_exec, "eval": compile_restricted_eval}[mode]
    try:
        result = compiler(source.strip() if mode == "eval" else source, "<string>", policy=_Policy)
    except (RecursionError, MemoryError) as exc:
        raise SandboxError("code refusé : expressions imbriquées trop profondément") from exc
    if result.errors or result.code is None:
        raise SandboxError("code refusé : " + " ; ".join(result.errors or ["erreur inconnue"]))
    return result.code


def check_source(source: str, *, mode: str) -> str | None:
    """None if the source compiles under the sandbox's rules, else a readable error message."""
    if mode not in ("exec", "eval"):
        raise ValueError(f"mode inconnu : {mode!r}")
    try:
        _compile(source, mode)
    except SandboxError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------ SpiffWorkflow integration


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment's semantics, every script and expression running in the sandbox."""

    def __init__(
        self, *, timeout_s: float = 1.0, max_steps: int = 1_000_000, max_size: int = 1_000_000
    ) -> None:
        super().__init__(HELPERS)
        self.timeout_s, self.max_steps, self.max_size = timeout_s, max_steps, max_size

    def _run(
        self, code: CodeType, context: dict[str, Any], external_context: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any]]:
        run = _Run(self.timeout_s, self.max_steps, self.max_size)
        namespace = {**(external_context or {}), **context, **run.guards(), "__builtins__": HELPERS}
        previous, _local.run = getattr(_local, "run", None), run
        try:
            return eval(code, namespace), namespace
        except RecursionError as exc:
            raise SandboxError("récursion trop profonde") from exc
        except MemoryError as exc:
            raise SandboxError("mémoire insuffisante") from exc
        finally:
            _local.run = previous

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: dict[str, Any] | None = None,
    ) -> Any:
        """Value of an expression over the task data."""
        return self._run(_compile(expression, "eval"), context, external_context)[0]

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        """Run a script: its data variables land in the task data, functions and helpers don't."""
        external = external_context or {}
        namespace = self._run(_compile(script, "exec"), context, external)[1]
        for key in [k for k in context if k not in namespace]:
            del context[key]
        for key, value in namespace.items():
            if key.startswith("_") or (key in external and key not in context):
                continue
            if isinstance(value, _DATA):
                context[key] = value
            elif value is not context.get(key):
                context.pop(key, None)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise SandboxError("les tâches de service ne sont pas disponibles")


class _ScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose service calls fail cleanly."""

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise WorkflowTaskException("les tâches de service ne sont pas disponibles", task=task)


def make_script_engine(
    *, timeout_s: float = 1.0, max_steps: int = 1_000_000, max_size: int = 1_000_000
) -> PythonScriptEngine:
    """A script engine running everything in the sandbox; safe to share between threads."""
    env = SandboxedEnvironment(timeout_s=timeout_s, max_steps=max_steps, max_size=max_size)
    return _ScriptEngine(environment=env)


HELPERS: dict[str, object] = {
    "date": date,
    "datetime": datetime,
    "timedelta": timedelta,
    "today": today,
    "now": now,
    "parse_date": parse_date,
    "parse_datetime": parse_datetime,
    "add_days": add_days,
    "add_months": add_months,
    "add_business_days": add_business_days,
    "business_days_between": business_days_between,
    "next_business_day": next_business_day,
    "months_between": months_between,
    "iso": iso,
    "round_half_up": round_half_up,
    "ceil": lambda x: ceil(_number(x)),
    "floor": lambda x: floor(_number(x)),
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "enumerate": lambda it, start=0: _current().getiter(enumerate(it, start)),
    "float": float,
    "len": len,
    "max": max,
    "min": min,
    "range": _range,
    "reversed": reversed,
    "round": _round,
    "sorted": _sorted,
    "sum": _sum,
    "zip": lambda *its, strict=False: _current().getiter(zip(*its, strict=strict), charge=True),
    "isinstance": isinstance,
    "True": True,
    "False": False,
    "None": None,
    # Exception classes, so a script can catch the error it expects rather than everything.
    **{
        cls.__name__: cls
        for cls in (
            ArithmeticError,
            IndexError,
            KeyError,
            LookupError,
            NameError,
            TypeError,
            ValueError,
            ZeroDivisionError,
        )
    },
    **{
        cls.__name__: _Checked(cls.__name__, (), {"_wrapped": cls})
        for cls in (dict, int, list, set, str, tuple)
    },
}
