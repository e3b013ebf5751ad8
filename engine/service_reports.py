"""The service's part about what the office reads and sends from the whole database: the
ledger, the figures, the assessment and its circular, Excel in and out, and the notices (see
:class:`duban.engine.service.Service`). Each read shows only what the reader may see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duban.engine import choices, dashboard, notices, reports, validation
from duban.engine.assessment import Assessment, Weights, weights_from
from duban.engine.excel import TaskList
from duban.engine.figures import Figures
from duban.engine.ledger import LedgerFilter
from duban.engine.periods import Period
from duban.engine.sessions import ActorRef, Sessions

NO_PROGRESS: reports.Progress = lambda stage, done, total: None  # noqa: E731


class ReportService(Sessions):
    """The ledger, the period figures, the assessment, imports and notices."""

    # -- the office's reports -----------------------------------------------------------------

    def ledger_page(self, actor: ActorRef, flt: LedgerFilter, *, limit: int | None = 200,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        with self.reading(actor, "ledger") as txn:
            flt = choices.ledger_filter(txn.conn, txn.registry, flt)
            return reports.ledger_page(txn, flt, limit=limit, offset=offset)

    def clear_to_zero(self, actor: ActorRef, per_unit: int = 5) -> list[dict[str, Any]]:
        with self.reading(actor, "ledger") as txn:
            return reports.clear_to_zero(txn, per_unit)

    def export_ledger(self, actor: ActorRef, flt: LedgerFilter, path: Path) -> int:
        with self.reading(actor, "ledger_export") as txn:
            flt = choices.ledger_filter(txn.conn, txn.registry, flt)
            return reports.export_ledger(txn, flt, path)

    def period_figures(self, actor: ActorRef, period: Period,
                       by: str = "unit") -> list[Figures]:
        with self.reading(actor, "figures") as txn:
            return reports.period_figures(txn, period, by)

    def dashboard(self, actor: ActorRef, period: Period) -> dashboard.Dashboard:
        """领导驾驶舱 of a period, over the items the reader may see."""
        with self.reading(actor, "dashboard") as txn:
            return dashboard.dashboard(txn, period)

    def assess(self, actor: ActorRef, period: Period) -> Assessment:
        weights = self.weights()
        with self.reading(actor, "assess") as txn:
            return reports.assess(txn, period, weights)

    def circular(self, actor: ActorRef, period: Period) -> dict[str, Any]:
        weights = self.weights()
        with self.transaction(actor, "circular") as txn:
            return reports.circular(txn, period, weights)

    def import_task_list(self, actor: ActorRef, path: Path, *, workflow: str = "standard",
                         title: str | None = None,
                         progress: reports.Progress = NO_PROGRESS) -> list[int]:
        """Check the whole workbook, then create every item in one transaction, or none.
        ``title`` names the list in the notices to the units (《…》); without it the list is
        named by its own title row, else by the workflow's kind of task, never by its file's
        name."""
        if title is not None:
            title = validation.clean_text(title.strip("《》 "), "清单名称", max_length=100)
        with self.reading(actor, "import") as txn:
            workflow = choices.workflow(txn.registry, workflow)
            found: TaskList = reports.check_task_list(txn, path, progress)
            named = title or found.title or f"{txn.registry.latest(workflow).label}任务清单"
        with self.transaction(actor, "import") as txn:
            return reports.create_task_list(txn, found, workflow, named, progress)

    def weights(self) -> Weights:
        """The assessment's weights from the settings file's ``[assessment]`` table."""
        return weights_from(self.settings.tables.get("assessment", {}))

    # -- notices ------------------------------------------------------------------------------

    def notice_list(self, actor: ActorRef, *, status: str | None = None,
                    item_id: int | None = None, kind: str | None = None, limit: int = 200,
                    offset: int = 0) -> list[dict[str, Any]]:
        with self.reading(actor, "notices") as txn:
            return notices.list_notices(txn, status=status, item_id=item_id, kind=kind,
                                        limit=limit, offset=offset)

    def notice_counts(self, actor: ActorRef) -> dict[str, int]:
        with self.reading(actor, "notices") as txn:
            return notices.counts(txn)

    def notice(self, actor: ActorRef, notice_id: int) -> dict[str, Any]:
        """One notice with its deliveries."""
        with self.reading(actor, "notice_show") as txn:
            return notices.notice(txn, notice_id)
