"""docs/architecture.md and the README's layout table describe the tree as it is: every path they
name exists, and every module of the server is named in the architecture page."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATH_TOKEN = re.compile(r"(?<![\w.])((?:[\w-]+/)*[\w.-]+\.(?:py|ts|tsx|sql|md|mjs|yaml))\b")
SKIP = {"node_modules", ".venv", "build", "dist", ".git"}


def _tree_files() -> list[Path]:
    return [p for p in ROOT.rglob("*") if p.is_file() and not SKIP & set(p.relative_to(ROOT).parts)]


def _named_paths(text: str) -> set[str]:
    return {m.group(1) for m in PATH_TOKEN.finditer(text)}


def test_every_path_named_in_the_docs_exists():
    files = _tree_files()
    relative = {p.relative_to(ROOT).as_posix() for p in files}
    missing = []
    for doc in ("docs/architecture.md", "README.md"):
        for name in _named_paths((ROOT / doc).read_text()):
            if "/" in name:
                if not any(r == name or r.endswith("/" + name) for r in relative):
                    missing.append(f"{doc}: {name}")
            elif not any(p.name == name for p in files):
                missing.append(f"{doc}: {name}")
    assert missing == []


def test_every_server_module_is_in_the_architecture_page():
    text = (ROOT / "docs/architecture.md").read_text()
    unnamed = []
    for package in ("api", "collector", "demo"):
        for module in sorted((ROOT / package).rglob("*.py")):
            if module.name == "__init__.py" and module.parent.name not in ("live", "demo"):
                continue
            path = module.relative_to(ROOT).as_posix()
            shown = module.parent.relative_to(ROOT).as_posix() + "/" if module.name == "__init__.py" else path
            if shown not in text and (module.name == "__init__.py" or module.name not in text):
                unnamed.append(path)
    assert unnamed == [], "name these modules in docs/architecture.md"
