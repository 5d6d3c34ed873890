"""A2A: podium's workflows and team served as A2A agents (``server``), and remote A2A agents
as members of a team (``client``). Needs the ``a2a`` extra."""
