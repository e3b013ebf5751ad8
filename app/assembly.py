"""Putting duban together: the engine's service, the packaged and the admin's workflows,
and the outbox as its notice sink.

Both parts load on first use: a command that writes no notice never imports the templates,
and ``duban --help`` imports neither.
"""

from __future__ import annotations

from duban.engine.ports import Clock, NoticeSink
from duban.engine.registry import Registry
from duban.engine.service import Service
from duban.engine.settings import Settings


def build_service(settings: Settings, clock: Clock | None = None) -> Service:
    """The service every program of duban uses, built from its settings."""

    def registry() -> Registry:
        from duban import workflows

        return Registry.discover((workflows,), settings.workflows_dir)

    def outbox() -> NoticeSink:
        from duban.notifiers.outbox import Outbox

        return Outbox.from_settings(settings)

    return Service(settings, clock, registry=registry, notice_sink=outbox)
