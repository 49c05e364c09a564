"""Due dates on real French calendars: holidays by département, working-day modes, DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.workflows.engine.diagrams import chain
from workflows.engine import runtime, timers
from workflows.engine.business_calendar import PARIS, due_after
from workflows.engine.deploy import deploy
from workflows.engine.models import HumanTask


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_working_days_skip_ascension_weekend_and_whit_monday():
    friday = paris(2027, 5, 7, 9, 0)  # the day after Ascension (Thursday 6 May 2027)
    assert due_after(friday, "P5D", mode="ouvres") == paris(2027, 5, 14, 9, 0)  # Friday before
    assert due_after(friday, "P6D", mode="ouvres") == paris(2027, 5, 18, 9, 0)  # Whit Monday off
    assert due_after(friday, "P1W", mode="ouvres") == paris(2027, 5, 14, 9, 0)


def test_a_calendar_deadline_on_whit_monday_moves_to_tuesday():
    assert due_after(paris(2027, 5, 14, 17, 0), "P3D") == paris(2027, 5, 18, 17, 0)
    assert due_after(paris(2027, 5, 14, 17, 0), "P4D") == paris(2027, 5, 18, 17, 0)
    assert due_after(paris(2027, 5, 14, 17, 0), "P5D") == paris(2027, 5, 19, 17, 0)


def test_26_december_is_a_holiday_in_moselle_only():
    christmas_eve = paris(2029, 12, 24, 10, 0)  # Monday; 26 December 2029 is a Wednesday
    assert due_after(christmas_eve, "P2D", departement="75") == paris(2029, 12, 26, 10, 0)
    assert due_after(christmas_eve, "P2D", departement="57") == paris(2029, 12, 27, 10, 0)
    assert due_after(christmas_eve, "P1D", mode="ouvres", departement="57") == paris(
        2029, 12, 27, 10, 0
    )
    assert due_after(christmas_eve, "P1D", mode="ouvres", departement="75") == paris(
        2029, 12, 26, 10, 0
    )
    # Good Friday is off in Alsace (67) too
    assert due_after(paris(2027, 3, 25, 9, 0), "P1D", mode="ouvres", departement="67") == paris(
        2027, 3, 30, 9, 0
    )


def test_jours_ouvrables_count_saturdays():
    friday = paris(2027, 1, 8, 9, 0)
    assert due_after(friday, "P1D", mode="ouvrables") == paris(2027, 1, 9, 9, 0)
    assert due_after(friday, "P1D", mode="ouvres") == paris(2027, 1, 11, 9, 0)


def test_local_time_is_kept_across_the_daylight_saving_change():
    before = paris(2026, 3, 27, 10, 0)  # Friday, UTC+1; summer time starts Sunday 29 March
    due = due_after(before, "P3D")  # Monday 30 March, UTC+2
    assert due == paris(2026, 3, 30, 10, 0)
    assert due.astimezone(UTC).hour == 8 and before.astimezone(UTC).hour == 9
    autumn = due_after(paris(2027, 10, 29, 10, 0), "P3D")  # back to UTC+1 on 31 October
    # Monday 1 November is Toussaint: Tuesday 2 November, 10:00 in Paris = 09:00 UTC
    assert autumn.astimezone(UTC) == datetime(2027, 11, 2, 9, 0, tzinfo=UTC)


def test_months_clamp_to_the_end_of_month():
    assert due_after(paris(2027, 1, 31, 12, 0), "P1M", mode="calendaires") == paris(
        2027, 3, 1, 12, 0
    )  # 28 February 2027 is a Sunday: next working day


def test_unknown_mode_or_departement_is_refused():
    with pytest.raises(ValueError):
        due_after(paris(2027, 1, 4), "P1D", mode="lunaire")
    with pytest.raises(ValueError):
        due_after(paris(2027, 1, 4), "P1D", mode="ouvres", departement="999")


TASK_WITH_CALENDAR = """\
    <bpmn:userTask id="saisir" camunda:candidateGroups="acheteur" camunda:dueDate="P6D">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="calendrier" value="ouvres"/>
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
"""


def test_task_due_date_uses_its_calendar_and_the_marche_departement(session):
    timers.set_clock(lambda: paris(2027, 5, 7, 9, 0).astimezone(UTC))
    try:
        deploy(session=session, files={"c.bpmn": chain("c", [TASK_WITH_CALENDAR])})
        national = runtime.start(session=session, key="c", variables={"departement": "75"})
        session.commit()
    finally:
        timers.set_clock(None)
    row = session.scalars(select(HumanTask).where(HumanTask.instance_id == national.id)).one()
    assert row.due_at == paris(2027, 5, 18, 9, 0)
