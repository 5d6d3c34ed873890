"""MCP: tools of MCP servers for a run's agents (``client``), podium served to MCP hosts
(``server``). Needs the ``mcp`` extra; imported only when a workflow declares MCP servers."""
