"""The REST API, one module per resource: ``runs``, ``events`` (the log and its live stream),
``approvals``, ``metrics``; and ``dashboard`` (the web page and its assets)."""
