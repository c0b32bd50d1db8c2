"""Reads and parses a large file in a child process while this one commits what it parsed before.

Parsing a snapshot (JSON, cleaning abstracts, dates, author names) costs about as much as writing it:
on two cores, doing both at once nearly halves an ingest of all of arXiv. The child only reads and
yields batches; every commit, and so every checkpoint, stays in the parent, in order. A kill of either
process loses nothing: the parent's last commit is the checkpoint, and a child whose parent has gone
stops at its next batch.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TypeGuard

from paperboy.code_links import find_links
from paperboy.db.records import PaperRecord
from paperboy.ingest.records import Batch, IngestError
from paperboy.ingest.sources.files import FileSource

CHILD_MIN_BYTES = 32 * 2**20
"""Smaller files are parsed inline: starting a process costs more than it saves."""
QUEUED_BATCHES = 4
_POLL_SECONDS = 1.0


def worth_a_child(source: object) -> TypeGuard[FileSource]:
    """Whether `source` is a file large enough to parse in a child process."""
    if not isinstance(source, FileSource):
        return False
    size = source.total()
    return size is not None and size >= CHILD_MIN_BYTES


def _send(channel: Any, item: tuple[str, Any], parent: int) -> bool:
    """Put, waiting while the parent is busy; False once the parent is gone."""
    while os.getppid() == parent:
        try:
            channel.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    channel.cancel_join_thread()  # what is still buffered has no reader: exit without flushing it
    return False


def _with_links(record: PaperRecord) -> PaperRecord:
    """The record with the code links of its text: found here, on the parsing core, not the committing one."""
    return replace(record, links=find_links(record.abstract, record.comments, record.journal_ref))


def _produce(source: FileSource, state: dict[str, Any] | None, channel: Any, parent: int) -> None:
    """The child: every batch of `source` after `state`, then "end" (or the error that stopped it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        for batch in source.batches(state):
            batch.papers = [_with_links(record) for record in batch.papers]
            if not _send(channel, ("batch", batch), parent):
                return
    except Exception as exc:  # handed to the parent, which raises it where the inline loop would
        _send(channel, ("error", exc), parent)
        return
    _send(channel, ("end", None), parent)


def batches_in_child(source: FileSource, state: dict[str, Any] | None) -> Iterator[Batch]:
    """`source.batches(state)`, parsed ahead in a child process."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    channel = context.Queue(maxsize=QUEUED_BATCHES)
    child = context.Process(
        target=_produce, args=(source, state, channel, os.getpid()), name="paperboy-parse", daemon=True
    )
    child.start()
    try:
        while True:
            try:
                kind, value = channel.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise IngestError(
                        f"{source.path}: the process reading it stopped unexpectedly "
                        f"(exit code {child.exitcode}); run the ingest again to resume"
                    ) from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        channel.close()
