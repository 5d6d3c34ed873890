"""Open protocols at podium's edges: MCP (``mcp``) and A2A (``a2a``).

Each subpackage translates wire types to core types at the boundary and needs its extra
(``pip install "podium[mcp]"``, ``"podium[a2a]"``); ``import podium`` imports none of them.
"""
