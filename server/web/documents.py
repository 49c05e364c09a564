"""Documents of a marché on its page: list, add (multipart form), download, remove."""

from __future__ import annotations

import io

from flask import flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine.errors import FormInvalid
from workflows.marches import documents

from .marches import bp
from .pages import page


def _back(marche_id: int):
    return redirect(url_for("marches_web.detail", marche_id=marche_id, _anchor="documents"), 303)


@bp.post("/<int:marche_id>/documents")
@page
def add_document(marche_id: int, *, session: Session, actor: Actor):
    upload = request.files.get("fichier")
    try:
        document = documents.add(
            session=session,
            actor=actor,
            marche_id=marche_id,
            name=upload.filename if upload else "",
            data=upload.read(documents.MAX_BYTES + 1) if upload else b"",
        )
    except FormInvalid as exc:
        session.rollback()
        details = " ; ".join(f"{field} : {message}" for field, message in exc.errors.items())
        flash(_("Document refusé — %(details)s", details=details), "error")
        return _back(marche_id)
    flash(_("Document « %(name)s » ajouté.", name=document.name), "success")
    return _back(marche_id)


@bp.get("/<int:marche_id>/documents/<int:document_id>")
@page
def document(marche_id: int, document_id: int, *, session: Session, actor: Actor):
    found = documents.get(
        session=session, actor=actor, marche_id=marche_id, document_id=document_id
    )
    response = send_file(
        io.BytesIO(found.content),
        mimetype=found.media_type,
        as_attachment=True,
        download_name=found.name,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<int:marche_id>/documents/<int:document_id>/supprimer")
@page
def remove_document(marche_id: int, document_id: int, *, session: Session, actor: Actor):
    documents.remove(session=session, actor=actor, marche_id=marche_id, document_id=document_id)
    flash(_("Document retiré."), "success")
    return _back(marche_id)
