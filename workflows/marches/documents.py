"""Documents of a marché: files its buyer and facilitators share (CCAP extract with the clause,
notification letter, kickoff minutes…). Whoever may see the marché may list, read and add; the
author or an admin may remove. Each addition and removal is an audit event of the marché's
instance. Only office and image formats, by extension, up to MAX_BYTES; the type sent by the
browser is not trusted.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import Event

from . import service
from .models import Marche, MarcheDocument

MAX_BYTES = 5 * 1024 * 1024
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "txt": "text/plain",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}


def _marche(session: Session, actor: Actor, marche_id: int):
    """The marché if the actor may see it; otherwise absent (404), never "forbidden"."""
    marche = session.get(Marche, marche_id)
    if marche is None or not (actor.is_admin or service.can_see(actor, marche)):
        raise NotFound("Ce marché n'existe pas ou n'est pas dans votre périmètre.")
    return marche


def clean_name(name: str) -> str:
    """The file's own name, without folders or control characters, at most 255 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(
        c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C"
    )
    return base.strip().strip(".")[:255]


def add(
    *, session: Session, actor: Actor, marche_id: int, name: str, data: bytes
) -> MarcheDocument:
    marche = _marche(session, actor, marche_id)
    filename = clean_name(name)
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if not filename:
        raise FormInvalid("Document refusé.", errors={"fichier": "fichier absent ou sans nom"})
    if extension not in MEDIA_TYPES:
        allowed = ", ".join(sorted(MEDIA_TYPES))
        raise FormInvalid(
            "Document refusé.", errors={"fichier": f"format non accepté (formats : {allowed})"}
        )
    if not data:
        raise FormInvalid("Document refusé.", errors={"fichier": "fichier vide"})
    if len(data) > MAX_BYTES:
        raise FormInvalid(
            "Document refusé.",
            errors={"fichier": f"trop volumineux (au plus {MAX_BYTES // (1024 * 1024)} Mo)"},
        )
    document = MarcheDocument(
        marche_id=marche.id,
        name=filename,
        media_type=MEDIA_TYPES[extension],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        uploaded_by=actor.login,
    )
    session.add(document)
    session.flush()
    _audit(session, marche, actor, "document.added", document)
    return document


def listing(*, session: Session, actor: Actor, marche_id: int) -> list[MarcheDocument]:
    marche = _marche(session, actor, marche_id)
    return list(
        session.scalars(
            select(MarcheDocument)
            .where(MarcheDocument.marche_id == marche.id)
            .order_by(MarcheDocument.uploaded_at.desc(), MarcheDocument.id.desc())
        )
    )


def get(*, session: Session, actor: Actor, marche_id: int, document_id: int) -> MarcheDocument:
    """The document (content included), if the actor may see its marché."""
    marche = _marche(session, actor, marche_id)
    document = session.get(MarcheDocument, document_id)
    if document is None or document.marche_id != marche.id:
        raise NotFound(f"document {document_id} introuvable")
    return document


def remove(*, session: Session, actor: Actor, marche_id: int, document_id: int) -> None:
    document = get(session=session, actor=actor, marche_id=marche_id, document_id=document_id)
    require(
        actor.is_admin or document.uploaded_by == actor.login,
        "Seul l'auteur du dépôt ou un administrateur peut retirer ce document.",
    )
    marche = _marche(session, actor, marche_id)
    _audit(session, marche, actor, "document.removed", document)
    session.delete(document)
    session.flush()


def _audit(session: Session, marche, actor: Actor, kind: str, document: MarcheDocument) -> None:
    session.add(
        Event(
            instance_id=marche.instance_id,
            actor=actor.login,
            kind=kind,
            data={
                "marche_id": marche.id,
                "document_id": document.id,
                "name": document.name,
                "size": document.size,
                "sha256": document.sha256,
            },
        )
    )
