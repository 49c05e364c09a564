"""Small diagrams built in tests, for scenarios that vary one thing at a time."""

from __future__ import annotations

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_{key}" targetNamespace="http://clausier.test/bpmn">
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
"""
TAIL = """  </bpmn:process>
</bpmn:definitions>
"""


def user_task(task_id: str, name: str = "", group: str = "acheteur", extra: str = "") -> str:
    return (
        f'    <bpmn:userTask id="{task_id}" name="{name or task_id}" '
        f'camunda:candidateGroups="{group}" {extra}/>\n'
    )


def chain(key: str, steps: list[str], *, name: str = "Test") -> bytes:
    """start → each step (user tasks by id, or raw XML elements) → end, in sequence."""
    body = ['    <bpmn:startEvent id="debut"/>\n']
    ids = ["debut"]
    for step in steps:
        if step.lstrip().startswith("<"):
            body.append(step)
            ids.append(step.split('id="', 1)[1].split('"', 1)[0])
        else:
            body.append(user_task(step))
            ids.append(step)
    body.append('    <bpmn:endEvent id="fin"/>\n')
    ids.append("fin")
    for n, (a, b) in enumerate(zip(ids, ids[1:], strict=False)):
        body.append(f'    <bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}"/>\n')
    return (HEAD.format(key=key, name=name) + "".join(body) + TAIL).encode()


def script(task_id: str, source: str) -> str:
    from xml.sax.saxutils import escape

    return (
        f'    <bpmn:scriptTask id="{task_id}" name="{task_id}">'
        f"<bpmn:script>{escape(source)}</bpmn:script></bpmn:scriptTask>\n"
    )
