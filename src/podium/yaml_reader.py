# PyYAML's stubs leave the loader's internals (marks, nodes, dispose) untyped:
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""Read YAML safely: PyYAML's safe loader, bounded in size, nesting and alias expansion.

``yaml.safe_load`` refuses Python objects but not resource exhaustion: a kilobyte of nested
anchors (``a: &a [x, x]``, ``b: &b [*a, *a]``...) expands into billions of nodes once
something walks the data, thousands of nested brackets overflow the composer's recursion,
and a document of hundreds of megabytes takes minutes. ``compose`` checks the caps of
``podium.input_limits`` (bytes first, then depth while composing, then the node count with
every alias expanded) and ``construct`` builds the data from the checked node tree, so each
document is parsed once.
"""

from __future__ import annotations

from typing import Any, cast

import yaml

from podium.input_limits import LIMITS

__all__ = ["YamlLimitError", "compose", "construct", "load"]


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document is over one of the caps; the mark says where it went over."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than the depth cap."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.max_depth = LIMITS.yaml_depth.value()

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:  # pyright: ignore[reportIncompatibleMethodOverride] - the stub differs
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                mark = self.peek_event().start_mark  # pyright: ignore[reportUnknownMemberType]
                problem = LIMITS.yaml_depth.exceeded()
                raise YamlLimitError(problem=f"too deeply nested: {problem}", problem_mark=mark)
            return super().compose_node(parent, index)  # pyright: ignore[reportUnknownMemberType, reportArgumentType]
        finally:
            self.depth -= 1


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text`` (None for an empty document), within every cap.

    Raises:
        yaml.YAMLError: the text is not YAML; ``YamlLimitError`` when it is over a cap.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > LIMITS.yaml_bytes.value():
        problem = LIMITS.yaml_bytes.exceeded(f"{size:,} bytes")
        raise YamlLimitError(problem=f"document too large: {problem}")
    loader = _BoundedLoader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        _check_expansion(node)
    return node


def construct(node: yaml.Node | None) -> Any:  # Any: raw YAML data
    """The Python data of a node tree made by ``compose``."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)  # pyright: ignore[reportUnknownMemberType]
    finally:
        loader.dispose()


def load(text: str) -> Any:  # Any: raw YAML data
    """``yaml.safe_load`` within the caps.

    Raises:
        yaml.YAMLError: the text is not YAML; ``YamlLimitError`` when it is over a cap.
    """
    return construct(compose(text))


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a tree whose nodes, counting each alias as a copy of its anchor, are too many."""
    cap = LIMITS.yaml_nodes.value()
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = cap + 1  # a node reached again inside itself expands forever
        total = 1
        children: list[Any] = node.value if isinstance(node.value, list) else []  # pyright: ignore[reportUnknownMemberType]
        for child in children:
            pair = child if isinstance(child, tuple) else (child,)
            for part in cast("tuple[yaml.Node, ...]", pair):
                total = min(total + size(part), cap + 1)
        sizes[id(node)] = total
        return total

    found = size(root)
    if found > cap:
        problem = LIMITS.yaml_nodes.exceeded()
        message = f"its aliases expand into too many nodes ('billion laughs'?): {problem}"
        raise YamlLimitError(problem=message, problem_mark=root.start_mark)
