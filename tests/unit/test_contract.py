"""The contract (collector/contract.py) is the one definition its copies follow: the OpenAPI
document committed for the console, the migration's lookup rows, and the REST and WebSocket parsers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from multidict import MultiDict, MultiDictProxy

from api import openapi
from api.errors import BadRequest
from api.live.protocol import parse_client_message
from api.logs import parse_filter
from collector import contract, mapping
from collector.db.repository import LogFilter

ROOT = Path(__file__).resolve().parents[2]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_committed_openapi_document_is_current():
    committed = json.loads(openapi.UI_COPY.read_text())
    assert committed == openapi.document(), "ui/src/api/openapi.json is stale: run `.venv/bin/python -m api.openapi --write`"


def test_the_openapi_document_names_its_components_for_the_console():
    schemas = openapi.document()["components"]["schemas"]
    for name in ("ActivityEntry", "LogPage", "EntryDetail", "EntryContext", "TraceEntries", "Histogram", "Settings",
                 "SettingsUpdate", "PurgeResult", "Error", "Level", "Source", "Category", "LogFilterFields",
                 "LiveClientMessage", "LiveServerMessage", "User", "Project", "IngestToken"):  # fmt: skip
        assert name in schemas, name
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', openapi.render()))
    assert references <= set(schemas)


def _lookup_rows(table: str) -> dict[str, int]:
    sql = (ROOT / "migrations" / "0001_initial.sql").read_text()
    values = re.search(rf"INSERT INTO {table} \(id, name, label\) VALUES(.*?);", sql, re.S)
    assert values is not None, table
    return {name: int(number) for number, name in re.findall(r"\((\d+), '([^']+)'", values.group(1))}


def test_the_migration_lookup_rows_are_the_enums():
    assert _lookup_rows("activity_log_levels") == contract.LEVEL_IDS
    assert _lookup_rows("activity_log_sources") == contract.SOURCE_IDS
    assert list(contract.LEVEL_IDS) == [level.value for level in contract.Level] == ["debug", "info", "warn", "error"]
    assert list(contract.SOURCE_IDS) == [source.value for source in contract.Source]
    categories = re.search(r"category\s+TEXT .*CHECK \(category IN \(([^)]*)\)\)", (ROOT / "migrations" / "0001_initial.sql").read_text())
    assert categories is not None and re.findall(r"'(\w+)'", categories.group(1)) == list(contract.CATEGORIES)


def test_the_entity_type_bound_is_what_ingest_keeps():
    assert contract.ENTITY_TYPE_MAX_CHARS == mapping.NAME_CHARS


def _rest(**params: str) -> LogFilter:
    return parse_filter(MultiDictProxy(MultiDict(params)))


def _live(**fields: object) -> dict[str, object]:
    return parse_client_message(json.dumps({"action": "subscribe", **fields})).model_dump()


def _rest_refuses(**params: str) -> str:
    with pytest.raises(BadRequest) as refused:
        _rest(**params)
    return refused.value.message


def _live_refuses(**fields: object) -> str:
    with pytest.raises(ValueError) as refused:
        _live(**fields)
    return str(refused.value)


@pytest.mark.parametrize("length", [1, contract.SEARCH_MAX_CHARS])
def test_rest_and_live_take_the_same_searches(length: int):
    text = "x" * length
    assert _rest(search=text).search == text == _live(search=text)["search"]


def test_rest_and_live_refuse_the_same_searches():
    too_long = "x" * (contract.SEARCH_MAX_CHARS + 1)
    assert _rest_refuses(search=too_long) == _live_refuses(search=too_long) == "search is limited to 1000 characters"


@pytest.mark.parametrize("given", [TRACE, TRACE.upper(), f" {TRACE.upper()} "])
def test_rest_and_live_take_trace_ids_in_either_case_and_store_lower_case(given: str):
    assert _rest(trace_id=given).trace_id == TRACE == _live(trace_id=given)["trace_id"]


@pytest.mark.parametrize("given", [TRACE[:-1], TRACE + "0", "g" * 32, "xyz"])
def test_rest_and_live_refuse_the_same_trace_ids(given: str):
    assert _rest_refuses(trace_id=given) == _live_refuses(trace_id=given) == "trace_id must be 32 hexadecimal characters"


def test_rest_and_live_share_the_other_filter_rules():
    assert _rest_refuses(level="info,loud") == _live_refuses(levels=["info", "loud"])
    assert _rest_refuses(mode="all") == _live_refuses(mode="all")
    assert _rest_refuses(entity_id=str(2**63)) == _live_refuses(entity_id=2**63)
    too_long = "t" * (contract.ENTITY_TYPE_MAX_CHARS + 1)
    assert _rest_refuses(entity_type=too_long) == _live_refuses(entity_type=too_long)
    assert _rest(level="warn,error,warn").levels == ["warn", "error"] == _live(levels=["warn", "error", "warn"])["levels"]


def test_the_first_filter_problem_reported_is_the_same_in_every_process():
    """The REST parser checks parameters in a fixed order: a string set would make the reported
    problem depend on the process's hash seed."""
    import os
    import subprocess
    import sys

    script = (
        "from multidict import MultiDict, MultiDictProxy\n"
        "from api.logs import parse_filter\n"
        "from api.errors import BadRequest\n"
        "q = MultiDictProxy(MultiDict([('entity_id','x'),('job_id','y'),('mode','a'),('mode','b'),('search','a\\x00')]))\n"
        "try:\n    parse_filter(q)\nexcept BadRequest as e:\n    print(e)\n"
    )
    answers = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        answers.add(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                   check=True).stdout)  # fmt: skip
    assert len(answers) == 1 and answers.pop().strip()
