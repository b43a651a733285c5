"""Shortened views of large entries, so that a list page or a live frame stays small whatever was
logged (docs/security.md, "Large entries"). The full entry is always one request away
(``GET /api/v1/activity-logs/{id}``); exports are never shortened.

The rule, the same in SQL (``activity_json_preview`` in migrations/0002, applied by
``repository.VIEW_COLUMNS``) and here (for rows the live tail sends straight from the writer):
- the message is cut at ``MESSAGE_CHARS`` characters;
- a fields or resource map whose JSON is larger than ``MAP_BYTES`` becomes a preview: its first
  ``MAP_KEYS`` keys in jsonb's key order (shorter keys first, then by bytes), keys cut at
  ``KEY_CHARS`` characters, string values cut at ``VALUE_CHARS`` characters, and nested objects or
  arrays whose JSON is longer than ``VALUE_CHARS`` replaced by the start of that JSON, as a string;
- a shortened entry says so: ``truncated: true`` and the full message's length, ``message_length``.
"""

from __future__ import annotations

from typing import Any

import orjson

MESSAGE_CHARS = 8192
MAP_BYTES = 16 * 1024
MAP_KEYS = 50
KEY_CHARS = 256
VALUE_CHARS = 1024


def _jsonb_key_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode("utf-8", "surrogatepass")
    return len(encoded), encoded


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def map_needs_preview(value: dict[str, Any], encoded_size: int | None = None) -> bool:
    size = encoded_size if encoded_size is not None else len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    return size > MAP_BYTES


def map_preview(value: Any) -> Any:
    """The preview of one fields or resource map (see the module docstring)."""
    if not isinstance(value, dict):
        return _json_text(value)[:VALUE_CHARS]
    preview: dict[str, Any] = {}
    for key in sorted(value, key=_jsonb_key_order)[:MAP_KEYS]:
        item = value[key]
        if isinstance(item, str):
            item = item[:VALUE_CHARS]
        elif isinstance(item, (dict, list)):
            text = _json_text(item)
            if len(text) > VALUE_CHARS:
                item = text[:VALUE_CHARS]
        preview[key[:KEY_CHARS]] = item
    return preview
