"""A parsed query (``collector.query``) → the live tail's predicate over an ``ActivityRow``: the
in-process twin of ``collector.db.query_sql``. Change the two together
(``tests/integration/test_query_twin.py`` requires them to select the same rows).

The query is compiled once into nested closures, so that the hub's per-row check does no
parsing and no dispatch on node types.
"""

from __future__ import annotations

import math
import operator
from decimal import Decimal
from typing import Any, Callable

from collector.contract import LEVEL_IDS
from collector.model import ActivityRow
from collector.query.ast import COMPARISONS, And, AttributeValue, Node, Not, Op, Or, Target, Term, Text
from collector.query.words import words_of

RowCheck = Callable[[ActivityRow], bool]
_OPS = {Op.GT: operator.gt, Op.GE: operator.ge, Op.LT: operator.lt, Op.LE: operator.le}


def reads_attributes(node: Node | None) -> bool:
    """Whether the query looks into ``fields`` or ``resource`` (which live rows carry only when a
    subscriber needs them: ``collector.hub.LiveHub.publish``)."""
    if node is None or isinstance(node, Text):
        return False
    if isinstance(node, Term):
        return node.key.target in (Target.FIELD, Target.RESOURCE)
    if isinstance(node, Not):
        return reads_attributes(node.node)
    return any(reads_attributes(n) for n in node.nodes)


def _number(value: Any) -> Decimal | None:
    """An attribute's value as the number PostgreSQL's jsonb holds, or None when it is not a
    number. A float's shortest representation is what was stored, so it is what compares."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def compile_query(node: Node) -> RowCheck:
    if isinstance(node, And):
        checks = tuple(compile_query(n) for n in node.nodes)
        return lambda row: all(check(row) for check in checks)
    if isinstance(node, Or):
        checks = tuple(compile_query(n) for n in node.nodes)
        return lambda row: any(check(row) for check in checks)
    if isinstance(node, Not):
        inner = compile_query(node.node)
        return lambda row: not inner(row)
    if isinstance(node, Text):
        # ILIKE '%text%' with the wildcards escaped (a case-insensitive substring test), and each
        # of the term's words a whole word of the message (activity_message_words).
        needle, words = node.text.lower(), frozenset(words_of(node.text))
        if not words:
            return lambda row: needle in row.message.lower()
        return lambda row: needle in row.message.lower() and words.issubset(words_of(row.message))
    return _term(node)


def _term(term: Term) -> RowCheck:
    key, op, value = term.key, term.op, term.value
    target, name = key.target, key.name
    if target is Target.LEVEL:
        if op in COMPARISONS:
            compare, bound = _OPS[op], LEVEL_IDS[value]  # type: ignore[index]
            return lambda row: compare(LEVEL_IDS[row.level], bound)
        levels = frozenset(value)  # type: ignore[arg-type]
        return lambda row: row.level in levels
    if target is Target.NAME:
        names = frozenset(value)  # type: ignore[arg-type]
        return lambda row: getattr(row, name) in names
    if target in (Target.TEXT, Target.INT, Target.TIME):
        if op is Op.EXISTS:
            return lambda row: getattr(row, name) is not None
        if op is Op.PREFIX:
            return lambda row: (column := getattr(row, name)) is not None and column.startswith(value)
        if op is Op.EQ:
            return lambda row: getattr(row, name) == value
        compare = _OPS[op]
        return lambda row: (column := getattr(row, name)) is not None and compare(column, value)
    document = "fields" if target is Target.FIELD else "resource"
    if op is Op.EXISTS:
        return lambda row: name in getattr(row, document)
    if op is Op.PREFIX:
        return lambda row: isinstance(found := getattr(row, document).get(name), str) and found.startswith(value)
    if op in COMPARISONS:
        compare = _OPS[op]
        return lambda row: (number := _number(getattr(row, document).get(name))) is not None and compare(number, value)
    assert isinstance(value, AttributeValue)
    text, wanted_number, wanted_boolean = value.text, value.number, value.boolean

    def equals(row: ActivityRow) -> bool:
        found = getattr(row, document).get(name)
        if isinstance(found, str):
            return found == text
        if isinstance(found, bool):
            return found is wanted_boolean
        return wanted_number is not None and _number(found) == wanted_number

    return equals
