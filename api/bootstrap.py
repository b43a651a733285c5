"""First run: the first admin account and a default ingest token, so that a fresh server can be
logged into and sent logs at once.

Generated secrets are written to files in the data directory (mode 0600), in the way Jenkins keeps
``initialAdminPassword``: ``make run`` prints the admin's password on every start until you delete
its file. The ingest token is printed only by the start that created it; later starts point at its
file, so that the secret does not land in every terminal scrollback and log of the server's output.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from api.passwords import generate_password, hash_password, password_problem
from api.settings import ENV_VARS, Settings
from collector.auth import create_token
from collector.db.queries import q
from collector.errors import ConfigurationError

log = logging.getLogger(__name__)

ADMIN_FILE = "initial-admin.txt"
TOKEN_FILE = "ingest-token.txt"


@dataclass
class FirstRun:
    admin_email: str | None = None
    admin_password: str | None = None  # None when it was configured (never echoed) or its file deleted
    ingest_token: str | None = None  # only in the run that created it
    ingest_token_file: Path | None = None  # where the default token is kept, while the file exists


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def ensure_first_run(pool: asyncpg.Pool, settings: Settings) -> FirstRun:
    """Create the first admin (``settings.admin_email`` / ``admin_password``, else a generated
    password) when there is no admin, and the default ingest token when there is no token."""
    result = FirstRun()
    admin_file, token_file = settings.data_dir / ADMIN_FILE, settings.data_dir / TOKEN_FILE
    async with pool.acquire() as conn:
        if await conn.fetchval(q("count_admins")) == 0:
            email, password = settings.admin_email, settings.admin_password
            generated = not password
            if password and (problem := password_problem(password, email)) is not None:
                raise ConfigurationError(f"{ENV_VARS['admin_password']} is not acceptable for the first admin "
                                         f"{email}: the password {problem}")  # fmt: skip
            password = password or generate_password(email)
            await conn.execute(q("insert_user"), email, hash_password(password), "admin")
            log.info("created the first admin %s", email)
            if generated:
                _write_secret(admin_file, f"{email}\n{password}\n")
            result.admin_email = email
            result.admin_password = password if generated else None  # never echo a password we were given
        elif (saved := _read_secret(admin_file)) is not None:
            result.admin_email, _, result.admin_password = saved.partition("\n")
        if not await conn.fetch(q("list_ingest_tokens")):
            token, _ = await create_token(conn, "default")
            _write_secret(token_file, token + "\n")
            log.info("created the default ingest token (saved in %s)", token_file)
            result.ingest_token = token
    if token_file.is_file():
        result.ingest_token_file = token_file
    return result
