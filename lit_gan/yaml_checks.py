"""YAML as jsonargparse reads it, and the size of a value once its aliases are expanded.

jsonargparse reads every string it is given (a config file, a command-line value, a checkpoint's
hyperparameter) with its own loader: libyaml's (``CSafeLoader``, which takes a tab where PyYAML's pure
Python scanner does not) without the timestamp resolver (``2001-02-29`` stays a string, where
``yaml.safe_load`` raises). A check of what a string holds must read it that way, and the other ways too.
Aliases: a "billion laughs" of 300 bytes (9 levels of 9 aliases of the level below) expands to 435
million values, which jsonargparse copies one by one (tens of minutes, tens of GB).
"""

import json
from typing import Any, Callable, Iterator

import yaml

from lit_gan.errors import ConfigError

# The shipped configs hold 60 to 140 values.
MAX_VALUES = 100_000
COMPOSERS = tuple(dict.fromkeys((getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader)))
UNREADABLE = (yaml.YAMLError, ValueError, TypeError, RecursionError, OverflowError)


def _jsonargparse_loader() -> Callable[[str], Any]:
    try:
        from jsonargparse import get_loader

        return get_loader("yaml")
    except (ImportError, ValueError):  # an older jsonargparse: its loader, made the same way
        class Loader(COMPOSERS[0]):  # type: ignore[misc, valid-type]
            yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
                                       for first, resolvers in COMPOSERS[0].yaml_implicit_resolvers.items()}

        return lambda text: yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader


READERS: tuple[Callable[[str], Any], ...] = (_jsonargparse_loader(), yaml.safe_load, lambda text: json.loads(text.strip()))


def readings(text: str) -> tuple[list[Any], bool]:
    """What the readers make of ``text`` (jsonargparse's loader, ``yaml.safe_load``, JSON), and whether one
    of them failed on it."""
    values, failed = [], False
    for read in READERS:
        try:
            values.append(read(text))
        except UNREADABLE:
            failed = True
    return values, failed


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _values(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield value
    elif isinstance(node, (list, tuple)):
        yield from node


def expanded_size(root: Any, children: Callable[[Any], Any] = _values, name: str = "the value") -> int:
    """The number of values (scalars, lists, mappings, keys) of ``root`` with every shared node (a YAML
    alias, a shared reference of a pickle) counted as a copy, as the loaders expand it; each node is
    visited once, so this takes as long as the text (or object) is large. A node inside itself is refused."""
    sizes: dict[int, int] = {}  # id(node) -> its expanded size; 0 while its children are counted
    stack: list[tuple[Any, Iterator[Any], int]] = []  # iterative: a value nested 5,000 deep is no RecursionError

    def enter(node: Any) -> int:
        known = sizes.get(id(node))
        if known == 0:
            line = f" (line {node.start_mark.line + 1})" if isinstance(node, yaml.Node) else ""
            raise ConfigError(f"{name} holds an alias inside its own anchor's value{line}, which would expand"
                              " without end: remove that alias")
        if known is None:
            sizes[id(node)] = 0
            stack.append((node, iter(children(node)), 1))
            return -1
        return known

    total = enter(root)
    while stack:
        node, rest, size = stack[-1]
        child = next(rest, None)
        if child is None:
            stack.pop()
            sizes[id(node)] = size
            if stack:
                parent, parent_rest, parent_size = stack[-1]
                stack[-1] = (parent, parent_rest, parent_size + size)
            else:
                total = size
            continue
        known = enter(child)
        if known >= 0:
            stack[-1] = (node, rest, size + known)
    return total


def check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a composed YAML document that holds more than ``MAX_VALUES`` values once every alias is
    replaced by a copy of its anchor's value, or an alias inside its own anchor's value (endless)."""
    expanded = expanded_size(root, _children, name)
    if expanded > MAX_VALUES:
        raise ConfigError(f"{name} expands to {expanded:,} values through its YAML aliases, more than the"
                          f" {MAX_VALUES:,} a config may hold: write the values out, or use fewer aliases")


def check_text_expansion(text: str, name: str) -> None:
    """:func:`check_expansion` on ``text`` as each composer reads it (one that fails reads nothing to expand)."""
    for loader in COMPOSERS:
        try:
            node = yaml.compose(text, Loader=loader)
        except UNREADABLE:
            continue
        if node is not None:
            check_expansion(node, name)
