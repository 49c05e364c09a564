"""Domain errors of the engine; the server maps each to one HTTP status."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a refusal with a message a user can read."""

    status = 400

    def __init__(self, message: str, *, errors: dict[str, str] | None = None, **details: object):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.details = details


class NotFound(EngineError):
    status = 404


class DiagramError(EngineError):
    """A diagram was refused at deployment; names the file and the element."""

    status = 422

    def __init__(self, message: str, *, file_name: str = "", element_id: str = "", line: int = 0):
        where = ", ".join(
            p
            for p in (
                file_name and f"fichier {file_name}",
                element_id and f"élément {element_id}",
                line and f"ligne {line}",
            )
            if p
        )
        super().__init__(f"{message} ({where})" if where else message)
        self.reason = message
        self.file_name = file_name
        self.element_id = element_id
        self.line = line


class FormInvalid(EngineError):
    """Submitted data does not satisfy the task's form; `errors` maps field → message."""

    status = 422


class TaskNotReady(EngineError):
    status = 409


class InstanceNotRunning(EngineError):
    status = 409


class StaleInstance(EngineError):
    """Someone else changed the instance since it was read."""

    status = 409


class MigrationRefused(EngineError):
    status = 409
