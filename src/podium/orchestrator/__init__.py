"""The orchestrator: the node kinds that make a workflow an agent team's work.

``planning`` turns a ``plan:`` task's goal into agent tasks and runs them, re-planning after a
failure or a rejecting review; ``retrieval`` shows each step the passages of a knowledge base
that match it; ``verification`` grounds a draft's claims in what was retrieved and records a
verifier's verdicts. They sit on top of the engine's scheduler and recorder.
"""

from podium.engine.kinds import NodeKinds
from podium.orchestrator.planning import run_plan
from podium.orchestrator.verification import ground_and_settle, questions, record_verdicts

__all__ = ["KINDS"]

KINDS = NodeKinds(
    plan=run_plan, ground=ground_and_settle, questions=questions, verdicts=record_verdicts
)
"""The orchestrator's node kinds, for ``LocalEngine(kinds=KINDS)`` (``podium.run`` does it)."""
