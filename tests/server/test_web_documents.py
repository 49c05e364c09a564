"""Documents of a marché: its buyer and facilitators add, list and download them; nobody else
sees them; wrong files are refused with the field named; additions and removals are audited."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from tests.server.api.world import world_app
from tests.server.test_web import csrf, login
from workflows.engine.models import Event
from workflows.marches.documents import MAX_BYTES
from workflows.marches.models import MarcheDocument

PDF = b"%PDF-1.4\n% compte rendu de la reunion de lancement\n%%EOF\n"


def _upload(client, marche_id: int, name: str, data: bytes, token: str | None = None):
    return client.post(
        f"/marches/{marche_id}/documents",
        data={"csrf": token or csrf(client), "fichier": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_buyer_adds_a_document_the_facilitator_downloads_it_others_never_see_it(db):
    with world_app(db) as (_app, client, w):
        marche_id = w.own.marche_id
        login(client, "acheteur1")
        page = _upload(client, marche_id, "../../CR lancement.pdf", PDF)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "CR lancement.pdf" in text and "ajouté" in text
        with db.factory() as s:
            document = s.scalars(select(MarcheDocument)).one()
            assert (document.name, document.media_type, document.size) == (
                "CR lancement.pdf",
                "application/pdf",
                len(PDF),
            )
            audit = s.scalars(select(Event).where(Event.kind == "document.added")).one()
            assert audit.actor == "acheteur1" and audit.data["sha256"] == document.sha256
        url = f"/marches/{marche_id}/documents/{document.id}"

        other = _app.test_client()
        login(other, "facilitateur1")
        download = other.get(url)
        assert download.status_code == 200 and download.data == PDF
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert "CR lancement.pdf" in other.get(f"/marches/{marche_id}").get_data(as_text=True)

        for stranger in ("acheteur2", "facilitateur2"):
            foreign = _app.test_client()
            login(foreign, stranger)
            assert foreign.get(url).status_code == 404
            refused = _upload(foreign, marche_id, "intrus.pdf", PDF)
            assert refused.status_code == 404
        with db.factory() as s:
            assert s.scalar(select(func.count()).select_from(MarcheDocument)) == 1


def test_wrong_files_are_refused_with_the_field_named_and_nothing_stored(db):
    with world_app(db) as (_app, client, w):
        login(client, "acheteur1")
        token = csrf(client)
        for name, data, message in (
            ("script.exe", b"MZ", "format non accepté"),
            ("vide.pdf", b"", "fichier vide"),
            ("gros.pdf", b"x" * (MAX_BYTES + 1), "trop volumineux"),
        ):
            page = _upload(client, w.own.marche_id, name, data, token)
            text = page.get_data(as_text=True)
            assert page.status_code == 200 and "fichier" in text and message in text, name
        assert _upload(client, w.own.marche_id, "a.pdf", PDF, "faux").status_code == 400
        with db.factory() as s:
            assert s.scalar(select(func.count()).select_from(MarcheDocument)) == 0


def test_only_the_author_or_an_admin_removes_a_document(db):
    with world_app(db) as (_app, client, w):
        login(client, "acheteur1")
        _upload(client, w.own.marche_id, "notification.pdf", PDF)
        with db.factory() as s:
            document_id = s.scalar(select(MarcheDocument.id))
        remove = f"/marches/{w.own.marche_id}/documents/{document_id}/supprimer"
        colleague = _app.test_client()
        login(colleague, "facilitateur1")
        assert colleague.post(remove, data={"csrf": csrf(colleague)}).status_code == 403
        assert client.post(remove, data={"csrf": csrf(client)}).status_code == 303
        with db.factory() as s:
            assert s.scalar(select(func.count()).select_from(MarcheDocument)) == 0
            removed = s.scalars(select(Event).where(Event.kind == "document.removed")).one()
            assert removed.actor == "acheteur1" and removed.data["name"] == "notification.pdf"
