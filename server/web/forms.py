"""A task's `camunda:formData` fields as the page shows them: label, input kind, hints, value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import format_date, format_decimal
from flask_babel import gettext as _


@dataclass
class FieldView:
    id: str
    label: str
    type: str
    value: str = ""
    required: bool = False
    readonly: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def shown(self) -> str:
        """A read-only value as a person reads it."""
        if self.value == "":
            return "—"
        if self.type == "boolean":
            return _("Oui") if self.value == "true" else _("Non")
        if self.type == "enum":
            return dict(self.options).get(self.value, self.value)
        if self.type == "date":
            try:
                return format_date(date.fromisoformat(self.value[:10]))
            except ValueError:
                return self.value
        if self.type in ("long", "double"):
            try:
                return format_decimal(float(self.value))
            except ValueError:
                return self.value
        return self.value

    @property
    def multiline(self) -> bool:
        """Long free texts (justifications, minutes) get a text area."""
        words = ("justification", "compte_rendu", "commentaire", "analyse", "motif", "texte")
        return self.type == "string" and any(w in self.id for w in words)


def as_text(value: Any) -> str:
    """A stored value as the form's input text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _hints(kind: str, rules: dict[str, Any]) -> list[str]:
    hints = []
    if kind == "long":
        hints.append(_("Nombre entier"))
    if kind == "double":
        hints.append(_("Nombre, décimales avec une virgule"))
    if rules.get("min") is not None:
        hints.append(_("Au moins %(v)s", v=rules["min"]))
    if rules.get("max") is not None:
        hints.append(_("Au plus %(v)s", v=rules["max"]))
    if rules.get("minlength") is not None:
        hints.append(_("Au moins %(n)s caractères", n=rules["minlength"]))
    if rules.get("maxlength") is not None:
        hints.append(_("Au plus %(n)s caractères", n=rules["maxlength"]))
    return hints


def fields_of(
    form: dict[str, Any],
    *,
    current: dict[str, Any],
    entered: dict[str, Any],
    errors: dict[str, str],
) -> list[FieldView]:
    """The fields of a form with their values: typed first, else stored, else the default."""
    views = []
    for spec in form.get("fields") or []:
        fid = spec["id"]
        rules = {v["name"]: v.get("config") for v in spec.get("validation", [])}
        readonly = "readonly" in rules
        if readonly or fid not in entered:
            value = current.get(fid, spec.get("default_value"))
        else:
            value = entered[fid]
        views.append(
            FieldView(
                id=fid,
                label=spec.get("label") or fid,
                type=spec.get("type") or "string",
                value=as_text(value),
                required="required" in rules,
                readonly=readonly,
                options=[(o["id"], o.get("name") or o["id"]) for o in spec.get("options", [])],
                hints=_hints(spec.get("type") or "string", rules),
                error=errors.get(fid),
            )
        )
    return views


def submitted(form: dict[str, Any], posted: Any) -> dict[str, str]:
    """The editable fields' texts as posted (absent radio buttons give an empty text)."""
    values = {}
    for spec in form.get("fields") or []:
        rules = {v["name"] for v in spec.get("validation", [])}
        if "readonly" not in rules:
            values[spec["id"]] = (posted.get(spec["id"]) or "").strip()
    return values
