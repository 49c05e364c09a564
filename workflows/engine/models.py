"""Tables of the engine: deployed definitions, instances and their projections."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: give a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class ProcessDefinition(Base):
    """One version of one executable process, as deployed."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(500))
    # The large columns load only when read: running an instance needs the cached spec only.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    # DMN files the process refers to, as deployed with it: {file name: xml}
    dmn_xml: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    # SpiffWorkflow spec and subprocess specs, serialized once at deployment
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployed_by: Mapped[str | None] = mapped_column(String(200))


class DecisionDefinition(Base):
    """One version of one DMN file."""

    __tablename__ = "decision_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(500))
    dmn_xml: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployed_by: Mapped[str | None] = mapped_column(String(200))


class Instance(Base):
    """A running (or ended) process instance with its serialized workflow."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # running, suspended, error, completed, cancelled
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_element: Mapped[str | None] = mapped_column(String(200))
    started_by: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    # Who may see it, stored at start (the engine does not interpret them; see server/api/scope):
    # the buyer organisation and the lead territory, copied onto each inbox row.
    buyer_id: Mapped[int | None] = mapped_column(index=True)
    territory_id: Mapped[int | None] = mapped_column(index=True)
    definition: Mapped[ProcessDefinition] = relationship(lazy="joined", innerjoin=True)
    # Not stored: (lock_version, rows) when a change has just written every open inbox row of
    # this version (projections.sync), so that answering with them needs no SELECT.
    open_rows = None

    __mapper_args__ = {"version_id_col": lock_version}


INBOX_ORDER = ("due_at", "created_at", "id", "assignee", "candidates")


class HumanTask(Base):
    """Inbox row: one user task that is (or was) ready."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_open", "state", "due_at"),
        # covering and in the inbox's order: its filters, count and page come from the index
        Index("ix_human_task_buyer", "state", "buyer_id", *INBOX_ORDER),
        Index("ix_human_task_territory", "state", "territory_id", *INBOX_ORDER),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instance.id", ondelete="CASCADE"), index=True
    )
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(500))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[list[Any]] = mapped_column(default=list)
    candidate_users: Mapped[list[Any]] = mapped_column(default=list)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    due_at: Mapped[datetime | None] = mapped_column()
    follow_up_at: Mapped[datetime | None] = mapped_column()
    form_key: Mapped[str | None] = mapped_column(String(500))
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # open, completed, cancelled
    state: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by: Mapped[str | None] = mapped_column(String(200))
    buyer_id: Mapped[int | None] = mapped_column()  # copied from the instance: inbox scoping
    territory_id: Mapped[int | None] = mapped_column()
    # groups and users of the two lists above as "|group|@login|", a plain indexable string
    candidates: Mapped[str] = mapped_column(String(1000), default="")
    # read with the task when it is worked on (server/api/scope.get_task), never written through
    instance: Mapped[Instance] = relationship(viewonly=True, lazy="select")


def candidates_text(groups: list[str], users: list[str]) -> str:
    """HumanTask.candidates for these candidate groups and users."""
    return "|" + "".join(f"{g.strip()}|" for g in groups) + "".join(f"@{u.strip()}|" for u in users)


class Timer(Base):
    """A pending timer of an instance; the scheduler polls these rows."""

    __tablename__ = "timer"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instance.id", ondelete="CASCADE"), index=True
    )
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # date, duration, cycle
    due_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None] = mapped_column()
    locked_by: Mapped[str | None] = mapped_column(String(200))


class Event(Base):
    """Audit trail: who did what, when, with what data."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instance.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))
    element_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
