"""Pure helpers over one level of a task graph (the top level, a loop body, a map's task).

Edges come from ``needs``: ``a -> b`` means ``b`` needs ``a``, so ``a`` runs first. A need
that names no task of the level is ignored here; validation reports it. Nothing here looks
inside loops, maps or sub-workflows: call the helpers again on each nested level.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from podium.errors import ConfigError
from podium.ids import TaskId
from podium.task import Task

__all__ = ["ancestors", "dependents", "find_cycle", "topological_order"]


def dependents(tasks: Sequence[Task]) -> dict[TaskId, list[TaskId]]:
    """Map each task id to the ids of the tasks that need it, in declaration order.

    Args:
        tasks: one level of a graph.

    Returns:
        An entry for every task, empty for tasks nothing needs.
    """
    result: dict[TaskId, list[TaskId]] = {t.id: [] for t in tasks}
    for task in tasks:
        for need in dict.fromkeys(task.needs):
            if need in result:
                result[need].append(task.id)
    return result


def find_cycle(tasks: Sequence[Task]) -> list[TaskId] | None:
    """Find one dependency cycle, if the level has any.

    Args:
        tasks: one level of a graph.

    Returns:
        The cycle as a path that starts and ends at the same task, each running before
        the next (``[a, b, a]``: ``b`` needs ``a`` and ``a`` needs ``b``; a task that needs
        itself gives ``[a, a]``), or None when the level is acyclic.
    """
    edges = dependents(tasks)
    done: set[TaskId] = set()
    for start in edges:
        if start in done:
            continue
        cycle = _cycle_from(start, edges, done)
        if cycle is not None:
            return cycle
    return None


def _cycle_from(
    start: TaskId, edges: dict[TaskId, list[TaskId]], done: set[TaskId]
) -> list[TaskId] | None:
    """Iterative depth-first search from ``start``; ``done`` holds fully explored tasks."""
    path: list[TaskId] = [start]
    on_path: set[TaskId] = {start}
    stack = [iter(edges[start])]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            finished = path.pop()
            on_path.discard(finished)
            done.add(finished)
        elif child in on_path:
            return [*path[path.index(child) :], child]
        elif child not in done:
            path.append(child)
            on_path.add(child)
            stack.append(iter(edges[child]))
    return None


def ancestors(tasks: Sequence[Task]) -> dict[TaskId, frozenset[TaskId]]:
    """Map each task id to every task it transitively needs.

    Terminates on cyclic levels too (a task on a cycle is then its own ancestor).

    Args:
        tasks: one level of a graph.

    Returns:
        An entry for every task.
    """
    known = frozenset(t.id for t in tasks)
    direct = {t.id: [n for n in t.needs if n in known] for t in tasks}
    result: dict[TaskId, frozenset[TaskId]] = {}
    for task_id in direct:
        seen: set[TaskId] = set()
        frontier = list(direct[task_id])
        while frontier:
            need = frontier.pop()
            if need not in seen:
                seen.add(need)
                frontier.extend(direct[need])
        result[task_id] = frozenset(seen)
    return result


def topological_order(tasks: Sequence[Task]) -> list[TaskId]:
    """Order task ids so that every task comes after the tasks it needs.

    Among tasks that are ready together, declaration order is kept, so the order is stable.

    Args:
        tasks: one level of a graph.

    Returns:
        Every task id once.

    Raises:
        ConfigError: the level has a cycle; the message shows it.
    """
    position = {t.id: index for index, t in reversed(list(enumerate(tasks)))}
    edges = dependents(tasks)
    waiting = {task_id: 0 for task_id in edges}
    for children in edges.values():
        for child in children:
            waiting[child] += 1
    ready = [(position[t], t) for t, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[TaskId] = []
    while ready:
        _, task_id = heapq.heappop(ready)
        order.append(task_id)
        for child in edges[task_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (position[child], child))
    if len(order) < len(edges):
        cycle = find_cycle(tasks) or []
        raise ConfigError(f"tasks form a cycle: {' -> '.join(cycle)}")
    return order
