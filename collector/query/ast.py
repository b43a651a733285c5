"""The parsed form of a query, shared by both compilers (SQL and the live matcher).

Nodes are frozen (hashable): a parsed query is cached by its text and compared by value.
Values are already checked and converted by the parser, so a compiler never rejects a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Union


class QueryError(ValueError):
    """A query that cannot be parsed: ``message`` says what was expected, ``position`` is the
    0-based index in the query text where the problem is. A ``ValueError``, so that the live tail
    answers it with an ``error`` frame like any other bad message."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class Op(Enum):
    EQ = ":"
    PREFIX = ":*"  # key:val*
    EXISTS = ":**"  # key:*
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


COMPARISONS = (Op.GT, Op.GE, Op.LT, Op.LE)


class Target(Enum):
    """Where a key's values are stored."""

    LEVEL = "level"  # an ordered name (debug < info < warn < error)
    NAME = "name"  # source / category: a lookup name, lower case
    TEXT = "text"  # a text column (service name, entity type, trace and span ids, scope name…)
    INT = "int"  # a bigint column (job, project, user, entity id)
    TIME = "time"  # the entry's timestamp
    FIELD = "field"  # a record attribute in ``fields``
    RESOURCE = "resource"  # a resource attribute in ``resource``


@dataclass(frozen=True)
class Key:
    target: Target
    name: str  # the column (ActivityRow attribute name) or the attribute key


@dataclass(frozen=True)
class AttributeValue:
    """What ``key:value`` on an attribute matches: the string as typed, and also the number or the
    boolean it spells, so that ``gpu:1`` matches the integer 1 as well as the string "1"."""

    text: str
    number: Decimal | None = None
    boolean: bool | None = None


@dataclass(frozen=True)
class Text:
    """Free text or a quoted phrase: a case-insensitive substring of the message whose words
    (``collector.query.words``) are each a whole word of the message."""

    text: str


@dataclass(frozen=True)
class Term:
    """``key<op>value``. ``value`` by target: LEVEL → frozenset of level names (EQ/PREFIX) or the
    level name (comparisons); NAME → frozenset of names; TEXT → str; INT → int; TIME → datetime;
    FIELD/RESOURCE → AttributeValue (EQ), str (PREFIX), Decimal (comparisons). None for EXISTS."""

    key: Key
    op: Op
    value: object = None


@dataclass(frozen=True)
class Not:
    node: "Node"


@dataclass(frozen=True)
class And:
    nodes: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple["Node", ...]


Node = Union[Text, Term, Not, And, Or]
TimeValue = datetime
