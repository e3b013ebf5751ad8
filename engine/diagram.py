"""Mermaid state diagrams of workflows, drawn from their declarations."""

from __future__ import annotations

from duban.engine.workflow import ANY_STATE, Workflow


def mermaid(workflow: Workflow) -> str:
    """A ``stateDiagram-v2`` whose labels are what users read (Chinese)."""
    lines = ["stateDiagram-v2", f"    [*] --> {workflow.initial}"]
    for state in workflow.states:
        lines.append(f"    {state.name} : {state.label}")
    for event in workflow.events:
        sources = [s.name for s in workflow.states] if ANY_STATE in event.source else event.source
        for source in sources:
            dest = event.dest or source
            lines.append(f"    {source} --> {dest} : {event.label}")
    for state in workflow.states:
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines) + "\n"
