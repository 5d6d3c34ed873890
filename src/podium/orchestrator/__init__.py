"""The orchestrator: the node kinds that make a workflow an agent team's work.

``planning`` turns a ``plan:`` task's goal into agent tasks and runs them, re-planning after a
failure or a rejecting review; ``retrieval`` shows each step the passages of a knowledge base
that match it; ``verification`` grounds a draft's claims in what was retrieved and records a
verifier's verdicts. They sit on top of the engine's scheduler and recorder.
"""
