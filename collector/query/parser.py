"""Query text → AST (``collector.query.ast``), or a ``QueryError`` that says where and what was
expected. The grammar (docs/query.md has it for users)::

    query   := or? EOF
    or      := and ("OR" and)*
    and     := unary (("AND")? unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | term | phrase | word
    term    := key (":" | ">=" | "<=" | ">" | "<") (value | phrase)

Words and phrases are free text over the message. A key is a built-in name (``BUILTINS``), or
``resource.<key>``, or any other record attribute, written as OpenTelemetry writes it.
Every query is bounded (``MAX_QUERY_CHARS``, ``MAX_DEPTH``, ``MAX_TERMS``) so that one request
cannot make an arbitrarily large SQL statement or predicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from collector.contract import CATEGORIES, INT64_MAX, INT64_MIN, LEVELS, SOURCES, parse_timestamp
from collector.query.ast import (
    COMPARISONS,
    And,
    AttributeValue,
    Key,
    Node,
    Not,
    Op,
    Or,
    QueryError,
    Target,
    Term,
    Text,
)

MAX_QUERY_CHARS = 2000
MAX_DEPTH = 16  # nested parentheses and NOTs
MAX_TERMS = 64  # words, phrases and key terms
# Numbers an attribute is compared with: PostgreSQL's numeric holds them all, and a comparison
# with more digits than any stored value could have would only cost.
_MAX_NUMBER_DIGITS = 40
_MAX_NUMBER_EXPONENT = 308

# Built-in names → the entry's own columns (ActivityRow attribute names). The contract
# attributes that ingest turns into columns (collector/attributes.py) are accepted under their
# OpenTelemetry names too, since they are not in ``fields``.
BUILTINS: dict[str, Key] = {
    "level": Key(Target.LEVEL, "level"),
    "source": Key(Target.NAME, "source"),
    "activity.source": Key(Target.NAME, "source"),
    "category": Key(Target.NAME, "category"),
    "mode": Key(Target.NAME, "category"),
    "activity.category": Key(Target.NAME, "category"),
    "service": Key(Target.TEXT, "service_name"),
    "service.name": Key(Target.TEXT, "service_name"),
    "trace": Key(Target.TEXT, "trace_id"),
    "span": Key(Target.TEXT, "span_id"),
    "entity": Key(Target.TEXT, "entity_type"),
    "activity.entity.type": Key(Target.TEXT, "entity_type"),
    "activity.entity.id": Key(Target.INT, "entity_id"),
    "job": Key(Target.INT, "job_id"),
    "activity.job.id": Key(Target.INT, "job_id"),
    "project": Key(Target.INT, "project_id"),
    "activity.project.id": Key(Target.INT, "project_id"),
    "user": Key(Target.INT, "user_id"),
    "activity.user.id": Key(Target.INT, "user_id"),
    "enduser.id": Key(Target.INT, "user_id"),
    "event": Key(Target.TEXT, "event_name"),
    "time": Key(Target.TIME, "timestamp"),
    "timestamp": Key(Target.TIME, "timestamp"),
    # The scope's name and version are stored; its attributes are not (collector/mapping.py).
    "scope.name": Key(Target.TEXT, "scope_name"),
    "scope.version": Key(Target.TEXT, "scope_version"),
}
_NAMES = {"level": LEVELS, "source": SOURCES, "category": CATEGORIES}
_LOWER_CASE_COLUMNS = frozenset({"trace_id", "span_id"})  # stored as lower-case hexadecimal

_KEY = re.compile(r"([A-Za-z_@][A-Za-z0-9_.@/\-]*)(>=|<=|:|>|<)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_BREAK = frozenset(' \t\r\n\f\v()"')


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) NOT AND OR TEXT TERM
    position: int
    text: str = ""
    key: str = ""
    op: str = ""
    quoted: bool = False
    value_position: int = 0


def _phrase(text: str, start: int) -> tuple[str, int]:
    """The quoted string opening at ``start`` (``\\"`` and ``\\\\`` escape) and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise QueryError('expected a closing " for the phrase opened here', start)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, i))
            i += 1
        elif char == '"':
            phrase, after = _phrase(text, i)
            tokens.append(_Token("TEXT", i, phrase, quoted=True))
            i = after
        elif char == "-" and i + 1 < end and not text[i + 1].isspace() and text[i + 1] != ")":
            tokens.append(_Token("NOT", i, "-"))
            i += 1
        else:
            start = i
            while i < end and text[i] not in _BREAK and not text[i].isspace():
                i += 1
            run = text[start:i]
            match = _KEY.match(run)
            if match:
                key, op = match.groups()
                value, value_position = run[match.end():], start + match.end()
                quoted = False
                if not value and i < end and text[i] == '"':
                    value, i = _phrase(text, i)
                    quoted = True
                elif not value:
                    raise QueryError(f"expected a value after {key}{op}", value_position)
                tokens.append(_Token("TERM", start, value, key=key, op=op, quoted=quoted, value_position=value_position))
            elif run in _KEYWORDS:
                tokens.append(_Token(run, start, run))
            else:
                tokens.append(_Token("TEXT", start, run))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def here(self) -> int:
        token = self.peek()
        return token.position if token is not None else len(self.text)

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect_term(self, after: str) -> None:
        token = self.peek()
        if token is None or token.kind in (")", "AND", "OR"):
            raise QueryError(f"expected a term after {after}", self.here())

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.parse_or(0)
        token = self.peek()
        if token is not None:  # only a ")" stops parse_or before the end
            raise QueryError("expected a term or the end of the query, found ')' without its '('", token.position)
        return node

    def parse_or(self, depth: int) -> Node:
        nodes = [self.parse_and(depth)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            self.expect_term("OR")
            nodes.append(self.parse_and(depth))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_and(self, depth: int) -> Node:
        nodes: list[Node] = []
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                if not nodes:
                    raise QueryError("expected a term before AND", token.position)
                self.take()
                self.expect_term("AND")
            nodes.append(self.parse_unary(depth))
        if not nodes:
            raise QueryError("expected a term", self.here())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_unary(self, depth: int) -> Node:
        token = self.take()
        if token.kind == "NOT":
            if depth + 1 > MAX_DEPTH:
                raise QueryError(f"expected at most {MAX_DEPTH} nested groups and negations", token.position)
            self.expect_term("NOT" if token.text == "NOT" else "-")
            return Not(self.parse_unary(depth + 1))
        if token.kind == "(":
            if depth + 1 > MAX_DEPTH:
                raise QueryError(f"expected at most {MAX_DEPTH} nested groups and negations", token.position)
            node = self.parse_or(depth + 1)
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QueryError("expected ')' to close the group opened at position " + str(token.position),
                                 self.here())  # fmt: skip
            self.take()
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"expected at most {MAX_TERMS} terms", token.position)
        if token.kind == "TEXT":
            return Text(token.text)
        return _term(token)


def _key(token: _Token) -> Key:
    name = token.key
    builtin = BUILTINS.get(name)
    if builtin is not None:
        return builtin
    if name.startswith("resource."):
        attribute = name.removeprefix("resource.")
        if not attribute:
            raise QueryError("expected an attribute name after resource.", token.position + len(name))
        return Key(Target.RESOURCE, attribute)
    if name.startswith("scope."):
        raise QueryError("expected scope.name or scope.version (scope attributes are not stored)", token.position)
    return Key(Target.FIELD, name)


def _number(text: str, token: _Token) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        return None
    digits = len(number.as_tuple().digits)
    if digits > _MAX_NUMBER_DIGITS or abs(number.adjusted()) > _MAX_NUMBER_EXPONENT:
        raise QueryError(f"expected a number of at most {_MAX_NUMBER_DIGITS} digits and exponent "
                         f"{_MAX_NUMBER_EXPONENT}", token.value_position)  # fmt: skip
    return number


def _term(token: _Token) -> Term:
    key = _key(token)
    value, where = token.text, token.value_position
    op = Op(token.op)
    if op is Op.EQ and not token.quoted and value == "*":
        op = Op.EXISTS
    elif op is Op.EQ and not token.quoted and value.endswith("*"):
        op, value = Op.PREFIX, value[:-1]
    target = key.target
    label = token.key

    if op is Op.EXISTS:
        if target in (Target.LEVEL, Target.NAME, Target.TIME):
            raise QueryError(f"expected a value after {label}: (every entry has a {label})", where)
        return Term(key, op)

    if target in (Target.LEVEL, Target.NAME):
        names = _NAMES[key.name]
        wanted = value.lower()
        if op in COMPARISONS:
            if target is not Target.LEVEL:
                raise QueryError(f"expected ':' after {label} ({label} values have no order)",
                                 token.position + len(label))  # fmt: skip
            if wanted not in names:
                raise QueryError(f"expected a level ({', '.join(names)})", where)
            return Term(key, op, wanted)
        matched = frozenset(n for n in names if (n == wanted if op is Op.EQ else n.startswith(wanted)))
        if not matched:
            raise QueryError(f"expected a {key.name} ({', '.join(names)})", where)
        return Term(key, Op.EQ, matched)

    if target is Target.TEXT:
        if op in COMPARISONS:
            raise QueryError(f"expected ':' after {label} (text values have no order)", token.position + len(label))
        return Term(key, op, value.lower() if key.name in _LOWER_CASE_COLUMNS else value)

    if target is Target.INT:
        if op is Op.PREFIX:
            raise QueryError(f"expected an integer after {label}: (ids have no prefixes)", where)
        if not _INTEGER.fullmatch(value) or not INT64_MIN <= int(value) <= INT64_MAX:
            raise QueryError(f"expected an integer after {label}{token.op}", where)
        return Term(key, op, int(value))

    if target is Target.TIME:
        if op not in COMPARISONS:
            raise QueryError(f"expected a comparison after {label} (e.g. {label}>=2026-01-31T12:00:00Z)",
                             token.position + len(label))  # fmt: skip
        try:
            return Term(key, op, parse_timestamp(value))
        except ValueError:
            raise QueryError("expected an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)", where) from None

    # An attribute of the record or of the resource.
    if op in COMPARISONS:
        number = _number(value, token)
        if number is None:
            raise QueryError(f"expected a number after {label}{token.op}", where)
        return Term(key, op, number)
    if op is Op.PREFIX:
        return Term(key, op, value)
    boolean = {"true": True, "false": False}.get(value) if not token.quoted else None
    number = _number(value, token) if not token.quoted else None
    return Term(key, op, AttributeValue(value, number, boolean))


@lru_cache(maxsize=1024)
def parse_query(text: str) -> Node | None:
    """The AST of a query (None for an empty one); ``QueryError`` when it is not one.
    Cached: the same filter is compiled by every page, count and live matcher that uses it."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"expected at most {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    if "\x00" in text:
        raise QueryError("expected no NUL characters", text.index("\x00"))
    return _Parser(text).parse()
