"""Tables of the notifications: outbox, reminder policy, templates, preferences, calendar events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflows.engine.models import Base, utcnow

# Kinds of notification (the user-facing names live in the templates).
KINDS = {
    "nouvelle_tache": "Nouvelle tâche",
    "rappel_avant": "Rappel avant échéance",
    "echeance": "Échéance aujourd'hui",
    "retard": "Tâche en retard",
    "escalade": "Escalade à la coordination",
    "relance_suivi": "Date de relance atteinte",
    "invitation": "Invitation à une réunion",
    "annulation": "Réunion annulée",
    "digest": "Récapitulatif quotidien",
}
MODES = ("immediate", "digest", "off")


class Notification(Base):
    """One message to one person, written in the transaction of its cause (the outbox).

    The unique key (recipient, subject, kind, occurrence) makes writing it idempotent: a job run
    twice, or by two processes, inserts nothing new. `status`: pending → sent (by SMTP or to the
    local outbox), digest → digested (sent inside a digest), off (preference), skipped (task
    closed before delivery), failed (after max tries; an admin may re-send it).
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint(
            "recipient", "subject_type", "subject_id", "kind", "occurrence", name="uq_notification"
        ),
        Index("ix_notification_delivery", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), index=True)  # login
    email: Mapped[str | None] = mapped_column(String(300))
    subject_type: Mapped[str] = mapped_column(String(20))  # task, meeting, user
    subject_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    occurrence: Mapped[str] = mapped_column(String(100))  # e.g. the due date it reminds of
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_to: Mapped[str | None] = mapped_column(String(20))  # smtp, outbox
    sent_at: Mapped[datetime | None] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderPolicy(Base):
    """Reminder rules of one process (element_id empty) or of one of its tasks."""

    __tablename__ = "reminder_policy"
    __table_args__ = (UniqueConstraint("process_key", "element_id", name="uq_reminder_policy"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str | None] = mapped_column(String(200))
    before_days: Mapped[int | None] = mapped_column(Integer)  # working days before due; 0 = none
    on_due: Mapped[bool | None] = mapped_column(Boolean)
    overdue_every_days: Mapped[int | None] = mapped_column(Integer)  # 0 = none
    escalate_after_days: Mapped[int | None] = mapped_column(Integer)  # 0 = none
    escalate_to: Mapped[str | None] = mapped_column(String(30))  # policy.ESCALATION_TARGETS
    follow_up: Mapped[bool | None] = mapped_column(Boolean)
    copy_facilitators: Mapped[bool | None] = mapped_column(Boolean)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationTemplate(Base):
    """A template edited by an admin; absent kinds use the files of notifications/templates/."""

    __tablename__ = "notification_template"
    __table_args__ = (UniqueConstraint("kind", "language", name="uq_notification_template"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5), default="fr")
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPreference(Base):
    """How one person wants one kind of notification: immediate, digest or off."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("login", "kind", name="uq_notification_preference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10))


class CalendarEvent(Base):
    """A meeting sent as iCalendar: one UID for its life, SEQUENCE raised at each change."""

    __tablename__ = "calendar_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(100), unique=True)  # e.g. "task:<id>", "meeting:3"
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    attendees: Mapped[str] = mapped_column(Text, default="")  # logins, comma-separated
    instance_id: Mapped[int | None] = mapped_column(Integer)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeJob(Base):
    """Notices owed for a change, written in the change's transaction and turned into
    notifications by the scheduler's `notices` job (see notifications/queue.py).

    `kind`: nouvelle_tache (a new inbox row: `task_id`) or invitation (a meeting's date was set
    by completing `task_id`; `data` holds what the form said). A job that fails is retried at
    each pass, up to queue.MAX_ATTEMPTS, then kept with its error for an admin to see.
    """

    __tablename__ = "notice_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
