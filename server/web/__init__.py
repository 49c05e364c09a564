"""Web pages, server-rendered in the Système de design de l'État (DSFR), French first.

`pages` holds what every page shares (the signed-in actor, navigation, errors as HTML pages),
`i18n` the language choice, `inbox` and `tasks` the task pages. Each view reads through the
scoped queries of `server.api.scope` and changes things only through the service layer.
"""

from __future__ import annotations

from flask import Flask

from .pages import blp


def init_app(app: Flask) -> None:
    """Languages, template helpers and the web blueprint."""
    from . import admin, i18n, inbox, tasks  # noqa: F401  (routes register on blp)

    i18n.init_app(app)
    app.register_blueprint(blp)
    admin.register(app)  # /admin/, administrators only
    from . import dashboards, documents, marches  # noqa: F401  (documents: routes on marches)

    app.register_blueprint(marches.bp)  # /marches/
    app.register_blueprint(dashboards.bp)  # /tableaux-de-bord/


__all__ = ["blp", "init_app"]
