"""A TCP proxy in front of PostgreSQL that a test can cut and restore: a real network failure
between the server and its database, without stopping the database other tests use."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit, urlunsplit


class CuttableProxy:
    def __init__(self, target_dsn: str):
        parts = urlsplit(target_dsn)
        socket_dir = parse_qs(parts.query).get("host", [None])[0] or (parts.hostname if (parts.hostname or "").startswith("/") else None)
        self._unix_path = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}" if socket_dir else None
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._dsn_parts = parts
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut_off = False
        self.port = 0
        # Armed by ``cut_at``: a marker in the client's bytes, and whether they reach the server.
        self._trap: tuple[bytes, bool] | None = None
        self.trapped = asyncio.Event()

    async def start(self) -> "CuttableProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def dsn(self) -> str:
        parts = self._dsn_parts
        user = parts.username or "postgres"
        password = f":{parts.password}" if parts.password else ""
        return urlunsplit(("postgresql", f"{user}{password}@127.0.0.1:{self.port}", parts.path, "", ""))

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until ``restore``."""
        self.cut_off = True
        for writer in list(self._writers):
            writer.transport.abort()

    def cut_at(self, marker: bytes, *, forward: bool) -> None:
        """Cut every connection when a client next sends ``marker`` (for example a COMMIT),
        after passing that message on to PostgreSQL (``forward``) or before: the client cannot
        tell which happened."""
        self._trap = (marker, forward)
        self.trapped.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            client_writer.transport.abort()
            return
        try:
            if self._unix_path:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(self._unix_path)
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        for reader, writer, upstream in ((client_reader, upstream_writer, True), (upstream_reader, client_writer, False)):
            task = asyncio.create_task(self._pipe(reader, writer, upstream), name="proxy-pipe")
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if self.cut_off:
                    break
                trap = self._trap if upstream else None
                if trap is not None and trap[0] in data:
                    self._trap = None
                    self.cut_off = True  # from now on nothing reaches the client: not the answer either
                    self.trapped.set()
                    if trap[1]:
                        writer.write(data)
                        await writer.drain()
                        await asyncio.sleep(0.2)  # PostgreSQL commits; its answer is lost with the cut
                        break  # (the test may have restored the proxy meanwhile: cut this connection only)
                    self.cut()
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
