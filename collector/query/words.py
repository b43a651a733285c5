"""The words of a message as free-text search reads them: runs of ASCII letters and digits,
lower-cased, from the first ``WORDS_CHARS`` characters. The Python twin of the SQL function
``activity_message_words`` (migration 0010), which the closed days' words index is built on;
``tests/integration/test_query_twin.py`` holds the two to the same answers."""

from __future__ import annotations

import re
import string

WORDS_CHARS = 100_000
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def words_of(text: str) -> list[str]:
    """The words of ``text``, in order, without the empty strings the SQL split leaves at the ends."""
    return [word for word in _SEPARATORS.split(text[:WORDS_CHARS].translate(_ASCII_LOWER)) if word]
