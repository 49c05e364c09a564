"""Escape and denial-of-service attempts the sandbox must refuse: (name, kind, source).

kind is "script" (a script task body) or "expression" (a condition, timer or DMN expression).
Every entry must make the script engine raise, quickly, with the default limits.
"""

from __future__ import annotations

ATTACKS: list[tuple[str, str, str]] = [
    # imports and dangerous builtins
    ("import", "script", "import os\nos.system('id')"),
    ("from_import", "script", "from os import system"),
    ("dunder_import", "expression", "__import__('os').system('id')"),
    ("open", "expression", "open('/etc/passwd').read()"),
    ("eval", "expression", "eval('1 + 1')"),
    ("exec", "script", "exec('x = 1')"),
    ("compile", "expression", "compile('1', 'f', 'eval')"),
    ("globals", "expression", "globals()"),
    ("locals", "expression", "locals()"),
    ("vars", "expression", "vars()"),
    ("dir", "expression", "dir()"),
    ("type", "expression", "type(1)"),
    ("getattr_builtin", "expression", "getattr(1, '__class__')"),
    ("print", "script", "print('hello')"),
    ("class_definition", "script", "class A:\n    pass"),
    ("async_def", "script", "async def f():\n    pass"),
    ("deep_nesting", "expression", "-" * 100_000 + "1"),
    ("deep_attribute_chain", "expression", "x" + ".real" * 5_000),
    # dunder, private and introspection attributes
    ("tuple_subclasses", "expression", "().__class__.__bases__[0].__subclasses__()"),
    ("list_class", "expression", "[].__class__"),
    ("datetime_subclasses", "expression", "datetime.__subclasses__()"),
    ("helper_globals", "expression", "today.__globals__"),
    ("lambda_code", "expression", "(lambda: 0).__code__"),
    ("generator_frame", "expression", "(x for x in []).gi_frame"),
    ("generator_frame_globals", "script", "g = (x for x in [1])\nf = g.gi_frame.f_globals"),
    ("private_name", "expression", "_getattr_"),
    ("private_assignment", "script", "_tick_ = None"),
    ("mro_to_object", "expression", "int.mro()[1]"),
    ("zoneinfo_cache", "expression", "now().tzinfo.clear_cache()"),
    # format-string attribute access
    ("str_format", "expression", "'{0.__class__}'.format(1)"),
    ("str_format_map", "expression", "'{x.__class__}'.format_map({'x': 1})"),
    ("str_class_format", "expression", "str.format('{0.__class__}', 1)"),
    # writes to objects that are not the script's own dicts and lists
    ("helper_class_attribute", "script", "date.today = 1"),
    ("helper_function_attribute", "script", "today.x = 1"),
    ("delete_attribute", "script", "del datetime.now"),
    # exceptions that would swallow the sandbox's refusals
    (
        "bare_except",
        "script",
        "while True:\n    try:\n        while True:\n            pass\n    except:\n        pass",
    ),
    (
        "finally_continue",
        "script",
        "while True:\n    try:\n        while True:\n            pass\n"
        "    finally:\n        continue",
    ),
    (
        "except_catches_refusal",
        "script",
        "s = ''\nfor i in range(1000):\n    try:\n"
        "        s = 'x' * 10**9\n    except:\n        s = 'y'",
    ),
    (
        "finally_return",
        "script",
        "def f():\n    try:\n        while True:\n            pass\n"
        "    finally:\n        return 1\nwhile True:\n    f()",
    ),
    # memory
    ("str_repeat", "expression", "'a' * 10**10"),
    ("list_repeat", "expression", "[0] * 10**9"),
    ("inplace_repeat", "script", "s = 'ab'\ns *= 10**10"),
    ("int_pow", "expression", "2 ** 10**9"),
    ("int_lshift", "expression", "1 << 10**10"),
    ("int_square_loop", "script", "x = 3\nwhile True:\n    x = x * x"),
    ("int_from_hex_string", "script", "x = int('f' * 1000000, 16)\ny = x % (x >> 2000000)"),
    ("int_from_bytes", "script", "x = int.from_bytes(b'\\xff' * 1000000, 'big')\ny = x % 7"),
    ("str_doubling", "script", "s = 'x' * 1000\nwhile True:\n    s = s + s"),
    ("starred_doubling", "script", "l = [0] * 1000\nwhile True:\n    l = [*l, *l]"),
    ("extend_doubling", "script", "l = [0] * 1000\nwhile True:\n    l.extend(l)"),
    ("slice_doubling", "script", "l = [0] * 1000\nwhile True:\n    l[len(l):] = l"),
    ("copies_accumulated", "script", "l = [0] * 1000000\nk = [list(l) for i in range(1000)]"),
    ("zip_fan_out", "expression", "list(zip(*[[0] * 1000000] * 1000))"),
    (
        "enumerate_chain",
        "script",
        "l = [0] * 1000000\ne = l\nfor i in range(1000):\n    e = enumerate(e)\nr = list(e)",
    ),
    ("slices_accumulated", "script", "l = [0] * 1000000\nk = [l[:] for i in range(1000)]"),
    ("ljust", "expression", "'x'.ljust(10**10)"),
    ("center", "expression", "'x'.center(10**10)"),
    ("unbound_zfill", "expression", "str.zfill('1', 10**10)"),
    ("expandtabs", "expression", "'\\t'.expandtabs(10**10)"),
    ("replace_empty", "expression", "('x' * 100000).replace('', 'y' * 100000)"),
    ("join", "expression", "''.join(['x' * 1000000] * 1000)"),
    ("translate", "expression", "('x' * 1000000).translate({120: 'y' * 1000000})"),
    ("to_bytes", "expression", "(1).to_bytes(10**10, 'big')"),
    ("percent_star_width", "expression", "'%*d' % (10**10, 1)"),
    ("percent_width", "expression", "'%2000000000d' % 1"),
    ("percent_keyed_width", "expression", "'%((a))2000000000s' % {'(a)': 1}"),
    ("percent_mapping_width", "expression", "'%2000000000s' % {}"),
    ("fstring_width", "expression", "f'{1:>10000000000}'"),
    ("repr_of_shared_items", "script", "s = 'x' * 1000000\nr = str([s] * 1000)"),
    ("fstring_repr", "script", "s = 'x' * 1000000\nr = f'{[s] * 1000}'"),
    (
        "dict_values_repr",
        "script",
        "s = 'x' * 1000000\nd = {i: s for i in range(1000)}\nr = str(d.values())",
    ),
    ("sum_of_lists", "expression", "sum([[0] * 1000000] * 1000, [])"),
    ("round_huge_ndigits", "expression", "round(5, -10**9)"),
    # CPU
    ("while_true", "script", "while True:\n    pass"),
    ("huge_range", "script", "for i in range(10**12):\n    pass"),
    ("recursion", "script", "def f(n):\n    return f(n + 1)\nf(0)"),
    ("lambda_recursion", "script", "f = lambda n: f(n + 1)\nf(0)"),
    (
        "exponential_calls",
        "script",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nr = f(60)",
    ),
    ("comprehension_bomb", "expression", "[i for i in range(10**7) for j in range(10**7)]"),
    ("nested_comprehension", "expression", "len([1 for i in range(10**6) for j in range(10**6)])"),
    ("infinite_generator", "script", "def g():\n    while True:\n        yield 1\nr = sum(g())"),
    ("sorted_key_loop", "expression", "sorted(range(10**6), key=lambda x: [y for y in range(9)])"),
    # exception classes are available to catch errors, not to reach frames
    (
        "exception_traceback_frame",
        "script",
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    f = e.__traceback__.tb_frame",
    ),
    ("exception_class_mro", "expression", "ValueError.mro()[1].__subclasses__()"),
]
