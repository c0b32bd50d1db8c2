"""A real SMTP server for the digest tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

The handler can be told to refuse chosen recipients (`refuse["a@example.org"] = "550 5.1.1 no such user"`,
or a 4xx for a transient failure) and to take its time over each message (`delay`), so tests can kill a
sender mid-batch.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

ARXIV_ID = re.compile(r"arXiv (\d{4}\.\d{4,5})")


def free_port() -> int:
    """A TCP port nothing listens on right now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    """The message exactly as it went over the wire (header bytes included)."""

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def raw_header(self, name: str) -> str:
        """A header's raw value as sent (unfolded, not decoded): what a mail client parses."""
        head = self.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
        unfolded = re.sub(r"\r\n[ \t]+", " ", head)
        for line in unfolded.split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == name.lower():
                return value.strip()
        raise KeyError(name)

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_type() == f"text/{subtype}"
        content: str = body.get_content()  # type: ignore[attr-defined]
        return content

    @property
    def arxiv_ids(self) -> list[str]:
        """The papers of a digest, in order (from the plain-text part)."""
        return ARXIV_ID.findall(self.part("plain"))


class RecordingHandler:
    """aiosmtpd handler: accepts mail (after `delay` seconds) and remembers it; refuses chosen recipients."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_attempts: list[str] = []
        self.refuse: dict[str, str] = {}
        self.delay = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.rcpt_attempts.append(address)
        reply = self.refuse.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        data = envelope.original_content or envelope.content
        self.received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(data)))
        return "250 2.0.0 accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in list(self.received) if address in r.rcpt_tos]

    def per_recipient(self) -> Counter[str]:
        return Counter(address for r in list(self.received) for address in r.rcpt_tos)


class SmtpServer:
    """aiosmtpd's Controller on 127.0.0.1 (its own thread and event loop), stoppable and restartable."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received
