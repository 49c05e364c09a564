"""Validation of submitted task data against the task's Camunda `formData` fields."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from .errors import FormInvalid

_TRUE = {"true", "1", "on", "oui", "yes"}
_FALSE = {"false", "0", "off", "non", "no"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


class _Bad(ValueError):
    pass


def _to_long(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad("un nombre entier est attendu")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise _Bad("un nombre entier est attendu")


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad("un nombre est attendu")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip().replace(",", ".").replace("\u202f", "").replace(" ", ""))
        except ValueError:
            raise _Bad("un nombre est attendu") from None
    else:
        raise _Bad("un nombre est attendu")
    if result != result or result in (float("inf"), float("-inf")):
        raise _Bad("un nombre fini est attendu")
    return result


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad("vrai ou faux est attendu")


def _to_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                pass
        try:
            return datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            pass
    raise _Bad("une date est attendue (AAAA-MM-JJ)")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Bad("un texte est attendu")


CONVERTERS = {
    "string": _to_string,
    "long": _to_long,
    "double": _to_double,
    "boolean": _to_boolean,
    "date": _to_date,
}


def _rules(field: dict[str, Any]) -> dict[str, str | None]:
    return {v["name"]: v.get("config") for v in field.get("validation", [])}


def _convert(field: dict[str, Any], value: Any) -> Any:
    kind = field.get("type") or "string"
    if kind == "enum":
        options = [o["id"] for o in field.get("options", [])]
        if value not in options:
            raise _Bad("valeur non permise ; valeurs possibles : " + ", ".join(options))
        return value
    converter = CONVERTERS.get(kind)
    if converter is None:
        raise _Bad(f"type de champ non pris en charge : {kind}")
    return converter(value)


def _check_bounds(field: dict[str, Any], value: Any, rules: dict[str, str | None]) -> None:
    kind = field.get("type")
    if kind in ("long", "double"):
        if rules.get("min") is not None and value < float(rules["min"]):
            raise _Bad(f"la valeur doit être au moins {rules['min']}")
        if rules.get("max") is not None and value > float(rules["max"]):
            raise _Bad(f"la valeur doit être au plus {rules['max']}")
    if kind == "date":
        for name, word in (("min", "avant"), ("max", "après")):
            limit = rules.get(name)
            if limit and ((value < limit) if name == "min" else (value > limit)):
                raise _Bad(f"la date ne peut pas être {word} le {limit}")
    if isinstance(value, str):
        if rules.get("minlength") is not None and len(value) < int(rules["minlength"]):
            raise _Bad(f"au moins {rules['minlength']} caractères")
        if rules.get("maxlength") is not None and len(value) > int(rules["maxlength"]):
            raise _Bad(f"au plus {rules['maxlength']} caractères")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_free(data: dict[str, Any]) -> dict[str, Any]:
    errors = {k: "nom de variable invalide" for k in data if not _NAME.match(str(k))}
    if errors:
        raise FormInvalid("Données refusées : noms de variables invalides.", errors=errors)
    return dict(data)


def validate(form: dict[str, Any], data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Return the cleaned values for the task data, or raise FormInvalid naming each bad field."""
    fields = form.get("fields") or []
    if not fields:
        return _check_free(data)
    known = {f["id"] for f in fields}
    errors = {k: "champ inconnu dans ce formulaire" for k in data if k not in known}
    cleaned: dict[str, Any] = {}
    for field in fields:
        fid, rules = field["id"], _rules(field)
        value = data.get(fid)
        if "readonly" in rules:
            shown = current.get(fid, field.get("default_value"))
            if fid in data and value != shown:
                errors[fid] = "champ en lecture seule"
            elif fid not in current and not _empty(shown):
                try:
                    cleaned[fid] = _convert(field, shown)
                except _Bad as bad:
                    errors[fid] = f"valeur par défaut invalide : {bad}"
            continue
        if _empty(value):
            if (
                "required" in rules
                and _empty(current.get(fid))
                and _empty(field.get("default_value"))
            ):
                errors[fid] = "ce champ est obligatoire"
                continue
            if fid in current and not _empty(current.get(fid)):
                continue
            value = field.get("default_value")
            if _empty(value):
                continue
        try:
            converted = _convert(field, value)
            _check_bounds(field, converted, rules)
        except _Bad as bad:
            errors[fid] = str(bad)
            continue
        cleaned[fid] = converted
    if errors:
        raise FormInvalid("Le formulaire contient des erreurs.", errors=errors)
    return cleaned
