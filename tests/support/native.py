"""The native fast path for the tests that drive it directly: the extension module as ingest uses
it (``copy_rows.native_module``: built from these sources, not switched off), and the mark for a
module of such tests. They skip only where the fast path is switched off (``ACTIVITY_NATIVE=off``)
or not built; a build missing where it should be fails
``test_fastpath_equivalence.test_the_extension_is_built_and_used`` instead."""

from __future__ import annotations

import pytest

from collector import copy_rows

FASTPATH = copy_rows.native_module()

needs_fastpath = pytest.mark.skipif(FASTPATH is None, reason="the native fast path is switched off or not built")
