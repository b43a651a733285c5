"""The console's query language: ``parse_query`` turns text such as
``service:render-worker gpu:1 level>=warn "out of memory" -node_id:12`` into an AST (``ast``),
which two compilers turn into what selects entries: ``collector.db.query_sql`` (a SQL condition
with bound parameters) and ``api.live.query_match`` (the live tail's in-process predicate).
The syntax is documented in ``docs/query.md``.
"""

from collector.query.ast import QueryError
from collector.query.parser import parse_query

__all__ = ["QueryError", "parse_query"]
