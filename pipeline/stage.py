"""The model stage's one interface, and the in-order delivery every backend shares.

    stage = EngineStage(get_model("bundled"))        # pipeline.schedule; a served model later
    for event in stage.clean(chunks, settings, stop=stop, keep=finished.append):
        ...  # ChunkProgress for chunks in flight, ChunkDone once per chunk in document order

A backend does its work in a worker thread and hands events to `deliver`, which the consumer
iterates. `deliver` yields progress (only the latest text of each chunk, so a slow consumer
never falls behind) and finished chunks strictly in document order. Every ChunkDone is also
given to `keep` the moment it arrives, in whatever order: when the consumer stops early,
closes the stream or is interrupted (Ctrl-C), the chunks that were finished but not yet due
in order are not lost. On the way out `deliver` stops the worker, waits for it and gives the
chunks it finished meanwhile to `keep` as well.

Not here: how a backend decodes or schedules; the guard (pipeline.guard), which the caller
applies to what comes out.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.events import Chunk, ChunkDone, ChunkProgress
from pipeline.settings import Settings

Keep = Callable[[ChunkDone], None]


class ModelStage(Protocol):
    """What run() needs from a model backend."""

    def clean(self, chunks: Sequence[Chunk], settings: Settings, *, stop: threading.Event,
              keep: Keep | None = None) -> Iterator[ChunkProgress | ChunkDone]:
        """Clean `chunks`: progress while they are written, one ChunkDone per chunk in index
        order (fewer when stopped), each also given to `keep` as soon as it is finished."""
        ...


@dataclass
class _Failure:
    error: BaseException


class _Either:
    """Set when any of its events is: the worker's view of "halt or stop"."""

    def __init__(self, *events):
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)


_END = object()


def deliver(chunks: Sequence[Chunk], work: Callable[[Callable, object], None], stop: threading.Event,
            keep: Keep | None = None, name: str = "pdf-cleaner-model") -> Iterator[ChunkProgress | ChunkDone]:
    """Run `work(emit, halt)` in a thread and stream what it emits, finished chunks in order.

    `work` emits ChunkProgress and ChunkDone events and returns when it has nothing left or
    its second argument is set (`stop`, or the consumer went away); an exception it raises is
    raised here, after the chunks finished before it. Closing this generator sets `stop` and
    joins the thread. `stop` needs only is_set() and set() (a file can stand in for an event).
    """
    out: queue.Queue = queue.Queue()
    halt = threading.Event()

    def run() -> None:
        try:
            work(out.put, _Either(halt, stop))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises
            out.put(_Failure(error))
        finally:
            out.put(_END)

    order = sorted(c.index for c in chunks)
    next_at = 0
    ready: dict[int, ChunkDone] = {}
    failure: _Failure | None = None
    worker = threading.Thread(target=run, name=name, daemon=True)
    ended = False

    def take(item) -> ChunkProgress | None:
        nonlocal ended, failure
        if item is _END:
            ended = True
        elif isinstance(item, _Failure):
            failure = item
        elif isinstance(item, ChunkDone):
            ready[item.index] = item
            if keep is not None:
                keep(item)
        elif isinstance(item, ChunkProgress) and item.index not in ready:
            return item
        return None

    try:
        worker.start()
        while not ended:
            items = [out.get()]
            while True:  # drain: a slow consumer sees only the latest text of each chunk
                try:
                    items.append(out.get_nowait())
                except queue.Empty:
                    break
            latest: dict[int, ChunkProgress] = {}
            for item in items:
                progress = take(item)
                if progress is not None:
                    latest[progress.index] = progress
            for index in list(latest):
                if index in ready:
                    del latest[index]
            yield from latest.values()
            while next_at < len(order) and order[next_at] in ready:
                yield ready.pop(order[next_at])
                next_at += 1
        # Stopped (or failed) early: what finished is still a result, in index order.
        for index in sorted(ready):
            yield ready.pop(index)
        if failure is not None:
            raise failure.error
    finally:
        if worker.is_alive():
            halt.set()
            stop.set()
        if worker.ident is not None:
            worker.join()
        # Closed or interrupted on the way: hand over what finished while the worker wound down.
        while not ended:
            try:
                take(out.get_nowait())
            except queue.Empty:
                break
