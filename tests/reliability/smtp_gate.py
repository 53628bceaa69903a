"""A TCP relay between the outbound service and Mailpit that stops one SMTP conversation at a
chosen point, so a kill lands exactly where R11 wants it (tests/reliability/test_r11_…).

A kill is *armed* with a point; the first conversation to reach it is held there (nothing
more is forwarded either way) and ``caught`` is set; the test then ``kill -9``s the sender.

- ``BEFORE_ACCEPT``: the client's ``MAIL FROM`` is held back, so Mailpit never takes that
  mail: the worker is mid-send and the provider has not accepted (a mail recorded "sent"
  before this point is lost).
- ``AFTER_ACCEPT``: the client's end of data (``<CRLF>.<CRLF>``) reaches Mailpit, which
  stores the mail, and Mailpit's ``250`` is held back: the provider accepted and we have
  no record of it, the one window in which a duplicate may arise.

The relay reads the protocol only as far as that: command lines outside DATA, and the end
of the data. Mail to Mailpit is not pipelined (aiosmtplib sends a command, then waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass, field


class Point(enum.Enum):
    BEFORE_ACCEPT = "before-accept"
    AFTER_ACCEPT = "after-accept"


END_OF_DATA = b"\r\n.\r\n"


@dataclass
class SmtpGate:
    upstream_host: str
    upstream_port: int
    armed: Point | None = None
    caught: asyncio.Event = field(default_factory=asyncio.Event)
    conversations: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._conversation, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def arm(self, point: Point) -> None:
        self.caught.clear()
        self.armed = point

    def _catch(self, point: Point) -> bool:
        """True for the one conversation that reaches the armed point first."""
        if self.armed is point:
            self.armed = None
            self.caught.set()
            return True
        return False

    async def _conversation(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        self.conversations += 1
        try:
            server_r, server_w = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        awaiting_accept = False  # end of data forwarded: the next reply is the acceptance
        held = False  # from here on nothing is forwarded, until the sender hangs up

        async def client_to_server() -> None:
            nonlocal awaiting_accept, held
            in_data = False
            tail = b""
            while chunk := await (client_r.read(65536) if in_data else client_r.readline()):
                if held:
                    continue
                if not in_data:
                    command = chunk.strip().upper()
                    if command.startswith(b"MAIL FROM") and self._catch(Point.BEFORE_ACCEPT):
                        held = True
                        continue
                    in_data = command == b"DATA"
                else:
                    seen = tail + chunk
                    tail = seen[-(len(END_OF_DATA) - 1) :]
                    if END_OF_DATA in seen:
                        in_data, tail, awaiting_accept = False, b"", True
                server_w.write(chunk)
                await server_w.drain()

        async def server_to_client() -> None:
            nonlocal awaiting_accept, held
            while chunk := await server_r.read(65536):
                if held:
                    continue
                if awaiting_accept:
                    awaiting_accept = False
                    if self._catch(Point.AFTER_ACCEPT):
                        held = True
                        continue
                client_w.write(chunk)
                await client_w.drain()

        client = asyncio.ensure_future(client_to_server())
        server = asyncio.ensure_future(server_to_client())
        try:
            await asyncio.wait([client, server], return_when=asyncio.FIRST_COMPLETED)
            if held:
                await asyncio.wait([client])  # until the killed sender's socket closes
        except (ConnectionError, OSError):
            pass
        finally:
            for pump in (client, server):
                pump.cancel()
            await asyncio.gather(client, server, return_exceptions=True)
            for writer in (client_w, server_w):
                writer.close()
                self._writers.discard(writer)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
