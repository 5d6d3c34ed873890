"""The status to show for each run (``podium runs``, ``podium gc``, the server's run list): a
run of one process is live while its process is; a run on Temporal while its workflow runs,
whichever worker carries it (Temporal is asked once per service, not once per run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from podium.distributed import workflow_states
from podium.ids import RunId
from podium.liveness import WorkflowState, shown_status
from podium.run import RunState, RunSummary

__all__ = ["Shown", "shown_statuses"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """Each run's status as shown, and the runs whose Temporal service could not be asked."""

    statuses: dict[RunId, str] = field(default_factory=dict[RunId, str])
    unreachable: tuple[RunSummary | RunState, ...] = ()
    """Runs on Temporal shown with the status their log records: Temporal did not answer."""

    def note(self) -> str | None:
        """What to say about the runs whose Temporal could not be asked, if any."""
        if not self.unreachable:
            return None
        where = sorted({s.temporal.address for s in self.unreachable if s.temporal is not None})
        runs = ", ".join(s.run_id for s in self.unreachable)
        return (
            f"Temporal at {', '.join(where)} could not be reached: runs {runs} show the status "
            "their log records, not whether their workflow still runs"
        )


async def shown_statuses(summaries: Sequence[RunSummary | RunState]) -> Shown:
    """The status to show for each run (``shown_status``), asking Temporal whether the
    workflows of the runs on it that their logs say are going still run.

    Args:
        summaries: the runs (``podium.list_runs`` lines, or ``podium.get_run`` states).

    Returns:
        Each run's status to show, by run id; and the runs on Temporal whose service could
        not be reached (shown as their log says, never ``interrupted``).
    """
    open_refs = [
        s.temporal
        for s in summaries
        if s.temporal is not None and s.status in ("running", "waiting")
    ]
    states = await workflow_states(open_refs)
    statuses: dict[RunId, str] = {}
    unreachable: list[RunSummary | RunState] = []
    for s in summaries:
        workflow: WorkflowState | None = None
        if s.temporal is not None:
            workflow = states.get(s.temporal.workflow_id, "unknown")
            if workflow == "unknown" and s.status in ("running", "waiting"):
                unreachable.append(s)
        statuses[s.run_id] = shown_status(s.status, s.pid, s.host, workflow=workflow)
    return Shown(statuses=statuses, unreachable=tuple(unreachable))
