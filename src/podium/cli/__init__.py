"""The ``podium`` command line: run workflows with a live view, list and inspect runs.

One module per command group (``run``, ``runs``, ``validate``), the live terminal view in
``live`` and the shared formatting in ``output``; ``app`` assembles them. This is the only
package that prints. It uses only the public API (``podium`` and ``podium.event``, checked by
``tests/test_architecture.py``); nothing imports it.
"""
