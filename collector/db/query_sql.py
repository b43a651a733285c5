"""A parsed query (``collector.query``) → a SQL condition over ``activity_logs l`` (joined with
``activity_log_sources src`` as in ``repository.FROM``). Its twin for the live tail is
``api.live.query_match``: change the two together (``tests/integration/test_query_twin.py``
requires them to select the same rows).

Every value and every attribute key is a bound parameter; only the column names of the
built-in keys, which come from the parser's fixed table, are written into the text. Every
condition is two-valued (never NULL), so that ``NOT`` selects exactly the complement.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from collector.contract import LEVEL_IDS, SOURCE_IDS
from collector.query.ast import COMPARISONS, And, AttributeValue, Node, Not, Op, Or, Target, Term, Text
from collector.query.words import words_of

Bind = Callable[[Any], str]

# The entry's own columns a built-in key may name (a fixed set: never user text).
_COLUMNS = frozenset({
    "service_name", "trace_id", "span_id", "entity_type", "entity_id", "job_id", "project_id", "user_id",
    "event_name", "scope_name", "scope_version", "timestamp", "category",
})  # fmt: skip
_SQL_OPS = {Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def query_condition(node: Node, bind: Bind) -> str:
    """The SQL condition of ``node``; values are appended through ``bind``, which returns the
    placeholder (``$n``) of each."""
    if isinstance(node, And):
        return "(" + " AND ".join(query_condition(n, bind) for n in node.nodes) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(query_condition(n, bind) for n in node.nodes) + ")"
    if isinstance(node, Not):
        return f"(NOT {query_condition(node.node, bind)})"
    if isinstance(node, Text):
        # The substring, and each word of the term as a whole word of the message (the closed
        # days' words index answers the second; migration 0010).
        contains = f"l.message ILIKE {bind('%' + _escape_like(node.text) + '%')}"
        words = words_of(node.text)
        if not words:
            return f"({contains})"
        return f"({contains} AND activity_message_words(l.message) @> {bind(words)}::text[])"
    return _term(node, bind)


def _term(term: Term, bind: Bind) -> str:
    key, op, value = term.key, term.op, term.value
    target = key.target
    if target is Target.LEVEL:
        if op in COMPARISONS:
            return f"(l.level_id {_SQL_OPS[op]} {bind(LEVEL_IDS[value])}::smallint)"  # type: ignore[index]
        return f"(l.level_id = ANY({bind(sorted(LEVEL_IDS[n] for n in value))}::smallint[]))"  # type: ignore[attr-defined]
    if target is Target.NAME:
        if key.name == "source":
            return f"(l.source_id = ANY({bind(sorted(SOURCE_IDS[n] for n in value))}::smallint[]))"  # type: ignore[attr-defined]
        return f"(l.category = ANY({bind(sorted(value))}::text[]))"  # type: ignore[call-overload]
    if target in (Target.TEXT, Target.INT, Target.TIME):
        column = key.name
        assert column in _COLUMNS, column
        cast = {Target.TEXT: "text", Target.INT: "bigint", Target.TIME: "timestamptz"}[target]
        if op is Op.EXISTS:
            return f"(l.{column} IS NOT NULL)"
        # "IS NOT NULL AND" keeps the condition two-valued, as COALESCE would, while leaving the
        # comparison a plain qual that the column's indexes serve.
        if op is Op.PREFIX:
            return f"(l.{column} IS NOT NULL AND starts_with(l.{column}, {bind(value)}::text))"
        sql_op = "=" if op is Op.EQ else _SQL_OPS[op]
        return f"(l.{column} IS NOT NULL AND l.{column} {sql_op} {bind(value)}::{cast})"
    # An attribute: fields or resource, addressed by a bound key.
    document = "l.fields" if target is Target.FIELD else "l.resource"
    if op is Op.EXISTS:
        return f"COALESCE({document} ? {bind(key.name)}::text, false)"
    if op is Op.PREFIX or op in COMPARISONS:
        attribute = f"{document} -> {bind(key.name)}::text"
    if op is Op.PREFIX:
        return (f"COALESCE(jsonb_typeof({attribute}) = 'string' AND starts_with({attribute} #>> '{{}}', "
                f"{bind(value)}::text), false)")  # fmt: skip
    if op in COMPARISONS:
        # The CASE keeps the cast from meeting a value that is not a number.
        return (f"COALESCE(CASE WHEN jsonb_typeof({attribute}) = 'number' THEN ({attribute})::numeric "
                f"{_SQL_OPS[op]} {bind(value)}::numeric END, false)")  # fmt: skip
    assert isinstance(value, AttributeValue)
    # Each spelling the value allows is one candidate: jsonb compares numbers numerically
    # (1 = 1.0) and never equates a string, a number and a boolean. Written as containment of
    # {key: candidate}, which for a scalar candidate is the same test as equality of the key's
    # value (an array or a map never contains a scalar below the top level), and which the closed
    # days' GIN indexes on fields and resource answer (collector/partitions.py).
    # The documents are built here and bound as text: built in SQL (jsonb_build_object, to_jsonb)
    # they are only stable, so a sequential scan of today's unindexed partitions would build them
    # again for every row. Bound as text and cast, because the connection's jsonb codec would
    # encode a Python str as a JSON string.
    tests = [f"{document} @> {bind(candidate)}::text::jsonb" for candidate in containment_documents(key.name, value)]
    return f"({' OR '.join(tests)})"


def containment_documents(key: str, value: AttributeValue) -> list[str]:
    """``{key: candidate}`` as JSON text for each spelling of ``value``: the string as typed, and
    the number or the boolean it spells."""
    candidates = [json.dumps(value.text)]
    if value.number is not None:
        candidates.append(str(value.number))  # finite (the parser's bounds); JSON accepts 1E+3
    if value.boolean is not None:
        candidates.append("true" if value.boolean else "false")
    return [f"{{{json.dumps(key)}: {candidate}}}" for candidate in candidates]
