"""The query language's parser: what parses to what, and where and how bad queries are refused.
The live matcher is checked here on hand-made rows; its agreement with SQL is
tests/integration/test_query_twin.py's."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from api.live.query_match import compile_query, reads_attributes
from collector.model import ActivityRow
from collector.query import QueryError, parse_query
from collector.query.ast import And, AttributeValue, Key, Not, Op, Or, Target, Term, Text
from collector.query.parser import MAX_DEPTH, MAX_QUERY_CHARS, MAX_TERMS

GPU = Key(Target.FIELD, "gpu")


def test_the_example_of_the_issue():
    node = parse_query('service:render-worker gpu:1 level>=warn "out of memory" -node_id:12')
    assert node == And((
        Term(Key(Target.TEXT, "service_name"), Op.EQ, "render-worker"),
        Term(GPU, Op.EQ, AttributeValue("1", Decimal(1))),
        Term(Key(Target.LEVEL, "level"), Op.GE, "warn"),
        Text("out of memory"),
        Not(Term(Key(Target.FIELD, "node_id"), Op.EQ, AttributeValue("12", Decimal(12)))),
    ))  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [
    ("", None),
    ("   ", None),
    ("oom", Text("oom")),
    ('"a \\"quoted\\" phrase"', Text('a "quoted" phrase')),
    ("gpu:*", Term(GPU, Op.EXISTS)),
    ("gpu:a100*", Term(GPU, Op.PREFIX, "a100")),
    ('gpu:"a100*"', Term(GPU, Op.EQ, AttributeValue("a100*"))),
    ("flag:true", Term(Key(Target.FIELD, "flag"), Op.EQ, AttributeValue("true", boolean=True))),
    ('http.status_code>=500', Term(Key(Target.FIELD, "http.status_code"), Op.GE, Decimal(500))),
    ("duration_ms<0.5", Term(Key(Target.FIELD, "duration_ms"), Op.LT, Decimal("0.5"))),
    ('resource.host.name:"gpu box 1"', Term(Key(Target.RESOURCE, "host.name"), Op.EQ, AttributeValue("gpu box 1"))),
    ("scope.name:render", Term(Key(Target.TEXT, "scope_name"), Op.EQ, "render")),
    ("service.name:api", Term(Key(Target.TEXT, "service_name"), Op.EQ, "api")),
    ("level:WARN", Term(Key(Target.LEVEL, "level"), Op.EQ, frozenset({"warn"}))),
    ("level:*", None),  # refused below: every entry has a level
    ("source:comfy*", Term(Key(Target.NAME, "source"), Op.EQ, frozenset({"comfyui"}))),
    ("mode:curated", Term(Key(Target.NAME, "category"), Op.EQ, frozenset({"curated"}))),
    ("project:-3", Term(Key(Target.INT, "project_id"), Op.EQ, -3)),
    ("job>=10", Term(Key(Target.INT, "job_id"), Op.GE, 10)),
    ("trace:AB*", Term(Key(Target.TEXT, "trace_id"), Op.PREFIX, "ab")),
    ("time>=2026-01-31T12:00:00Z", Term(Key(Target.TIME, "timestamp"), Op.GE,
                                        datetime(2026, 1, 31, 12, tzinfo=timezone.utc))),
    ("url:http://x/y", Term(Key(Target.FIELD, "url"), Op.EQ, AttributeValue("http://x/y"))),
])  # fmt: skip
def test_valid_terms(text, expected):
    if text == "level:*":
        with pytest.raises(QueryError):
            parse_query(text)
        return
    assert parse_query(text) == expected


def test_operators_precedence_and_groups():
    a, b, c = Text("a"), Text("b"), Text("c")
    assert parse_query("a b OR c") == Or((And((a, b)), c))
    assert parse_query("a AND b OR c") == Or((And((a, b)), c))
    assert parse_query("a (b OR c)") == And((a, Or((b, c))))
    assert parse_query("-(a OR b) c") == And((Not(Or((a, b))), c))
    assert parse_query("NOT a OR b") == Or((Not(a), b))
    assert parse_query("NOT NOT a") == Not(Not(a))
    assert parse_query("and or not") == And((Text("and"), Text("or"), Text("not")))  # keywords are upper case
    assert parse_query("a - b") == And((a, Text("-"), b))  # a lone minus is a word


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("gpu:", 4, "expected a value after gpu:"),
    ("a gpu: b", 6, "expected a value after gpu:"),
    ("gpu>abc", 4, "expected a number after gpu>"),
    ('oom "out of', 4, 'expected a closing "'),
    ("(a OR b", 7, "expected ')'"),
    ("a b)", 3, "without its '('"),
    ("()", 1, "expected a term"),
    ("OR a", 0, "expected a term"),
    ("a OR", 4, "expected a term after OR"),
    ("AND a", 0, "expected a term before AND"),
    ("a AND OR b", 6, "expected a term after AND"),
    ("a NOT", 5, "expected a term after NOT"),
    ("level:loud", 6, "expected a level (debug, info, warn, error)"),
    ("level>x", 6, "expected a level"),
    ("source>api", 6, "expected ':' after source"),
    ("service>a", 7, "expected ':' after service"),
    ("project:abc", 8, "expected an integer after project:"),
    ("project:1*", 8, "expected an integer"),
    ("project:99999999999999999999", 8, "expected an integer"),
    ("time:2026-01-01", 4, "expected a comparison after time"),
    ("time>yesterday", 5, "expected an RFC 3339 timestamp"),
    ("scope.attr:x", 0, "expected scope.name or scope.version"),
    ("resource.:x", 9, "expected an attribute name after resource."),
    ("n>1e999", 2, "expected a number of at most"),
])  # fmt: skip
def test_errors_point_at_the_problem(text, position, expected):
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert caught.value.position == position, caught.value
    assert expected in caught.value.message
    assert str(caught.value).endswith(f"(at position {position})")


def test_limits():
    with pytest.raises(QueryError, match="at most 2000 characters"):
        parse_query("a" * (MAX_QUERY_CHARS + 1))
    parse_query(" ".join(["w"] * MAX_TERMS))
    with pytest.raises(QueryError, match=f"at most {MAX_TERMS} terms") as caught:
        parse_query(" ".join(["w"] * (MAX_TERMS + 1)))
    assert caught.value.position == 2 * MAX_TERMS
    parse_query("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    with pytest.raises(QueryError, match="nested"):
        parse_query("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(QueryError, match="nested"):
        parse_query("-" * (MAX_DEPTH + 1) + "a")
    with pytest.raises(QueryError, match="NUL"):
        parse_query("a\x00")


def _row(**values) -> ActivityRow:
    values.setdefault("level", "info")
    values.setdefault("source", "worker")
    return ActivityRow(timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc), message=values.pop("message", "m"),
                       **values)  # fmt: skip


def _matches(text: str, row: ActivityRow) -> bool:
    return compile_query(parse_query(text))(row)


def test_values_compare_by_the_attributes_type():
    for value in (1, "1", 1.0):
        assert _matches("gpu:1", _row(fields={"gpu": value})), value
    for value in (True, "01", [1], {"gpu": 1}, None, 2):
        assert not _matches("gpu:1", _row(fields={"gpu": value})), value
    assert _matches("gpu:01", _row(fields={"gpu": 1}))  # the number 01 is 1
    assert _matches("ok:true", _row(fields={"ok": True})) and _matches("ok:true", _row(fields={"ok": "true"}))
    assert not _matches("ok:true", _row(fields={"ok": 1}))
    assert _matches("status>=500", _row(fields={"status": 503})) and not _matches("status>=500", _row(fields={"status": "503"}))
    assert _matches("d<0.5", _row(fields={"d": 0.1})) and not _matches("d<0.5", _row(fields={"d": 0.5}))
    assert _matches("gpu:*", _row(fields={"gpu": None})) and not _matches("gpu:*", _row(resource={"gpu": 1}))
    assert _matches("resource.gpu:1", _row(resource={"gpu": 1}))
    assert _matches("host:a1*", _row(fields={"host": "a100"})) and not _matches("host:a1*", _row(fields={"host": 100}))


def test_builtins_and_negation():
    warn = _row(level="warn", service_name="render-worker", project_id=3, trace_id="ab" * 16)
    assert _matches("level>=warn service:render-* project:3 trace:AB*", warn)
    assert not _matches("level>warn", warn) and _matches("-level:error", warn)
    assert _matches("-project:4", warn) and not _matches("-project:*", warn)
    assert _matches("service:*", warn) and not _matches("service:*", _row())
    assert not _matches("project>=1", _row())  # an absent id compares false, as SQL NULL does
    assert _matches("-project>=1", _row())
    assert _matches('"OUT of"', _row(message="Out of memory")) and not _matches("oom", _row(message="Out of memory"))


def test_reads_attributes():
    assert not reads_attributes(parse_query('level:warn "x" project:1 scope.name:a'))
    assert reads_attributes(parse_query("a OR -(b gpu:1)")) and reads_attributes(parse_query("resource.x:*"))


def test_containment_documents_are_json_for_every_spelling():
    import json

    from collector.db.query_sql import containment_documents

    docs = containment_documents('a"b.c', AttributeValue("1E+3", Decimal("1E+3"), None))
    assert [json.loads(d) for d in docs] == [{'a"b.c': "1E+3"}, {'a"b.c': 1000}]
    docs = containment_documents("ok", AttributeValue("true", None, True))
    assert [json.loads(d) for d in docs] == [{"ok": "true"}, {"ok": True}]
    assert [json.loads(d) for d in containment_documents("k", AttributeValue("é\n\\", None, None))] == [{"k": "é\n\\"}]
