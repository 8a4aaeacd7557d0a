"""How the pipeline's stages are run: in turn in one thread, or overlapped in three.

``take() → prepare(item) → infer(job) → finish(job)``.  ``take`` returns the next item, None when
nothing is there yet (it waited a poll interval), or :data:`END`.

* :func:`run_in_turn` — all stages one after the other in the calling thread.  Used when the
  network's threads fill every core: any other runnable thread during ``forward`` preempts one of
  ncnn's OpenMP workers and stalls the barrier every layer waits at, so the cheap stages are done
  *between* forward passes, and nothing else is busy while the network runs.
* :func:`run_overlapped` — prepare, infer and finish in three threads joined by one-item
  :class:`Handoff` mailboxes.  ncnn releases the GIL in ``forward``, so with a core to spare the
  next frame is prepared and the previous one finished while the network runs.  Prepare takes a new
  item only once infer took the previous one, so an item waits for at most one forward pass.
  While they overlap, the interpreter hands the GIL over every 0.5 ms instead of every 5 ms: a
  forward pass that returns must take the GIL back from a stage running Python code, and it waited
  up to the full interval (measured at threads 1 of 2: 77 vs 66 fps, median of 4 interleaved runs).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

END = object()  # take(): no more items
POLL_S = 0.5  # how often a waiting stage looks at the stop flag (and stamps its health)
SWITCH_INTERVAL_S = 0.0005  # the GIL hand-over interval while the stages overlap


class Handoff:
    """A one-item mailbox between two stages. ``put`` waits until the previous item was taken;
    ``get`` returns :data:`Handoff.END` once the mailbox is closed and empty."""

    END = END

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._full or self._closed, timeout)

    def put(self, item: Any) -> bool:
        """Hand ``item`` over (waiting for room); False if the mailbox was closed meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: not self._full or self._closed)
            if self._closed:
                return False
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The next item, END when closed and drained, or None after ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                return END
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


Stage = Callable[[Any], Any]


def run_in_turn(take: Callable[[], Any], prepare: Stage, infer: Stage, finish: Stage,
                tick: Callable[[], None]) -> None:
    """Every stage in the calling thread; ``tick()`` before every take (the inference heartbeat)."""
    while True:
        tick()
        item = take()
        if item is END:
            return
        if item is not None:
            finish(infer(prepare(item)))


def run_overlapped(take: Callable[[], Any], prepare: Stage, infer: Stage, finish: Stage,
                   tick: Callable[[], None], stop: threading.Event) -> None:
    """Prepare and finish in their own threads, infer in the calling one; the first error stops all
    three and is re-raised here once the finish stage has drained what it was handed."""
    prepared, inferred = Handoff(), Handoff()
    errors: list[BaseException] = []

    def guard(loop: Callable[[], None], out: Handoff) -> None:
        try:
            loop()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            errors.append(exc)
            stop.set()
        finally:
            out.close()

    def prepare_loop() -> None:
        while True:
            if not prepared.wait_empty(POLL_S):  # take an item only once infer took the last one
                continue
            item = take()
            if item is END:
                return
            if item is not None and not prepared.put(prepare(item)):
                return

    def finish_loop() -> None:
        while (job := inferred.get(POLL_S)) is not END:
            if job is not None:
                finish(job)

    helpers = [threading.Thread(target=guard, args=(prepare_loop, prepared), name="edgecam-prepare", daemon=True),
               threading.Thread(target=guard, args=(finish_loop, inferred), name="edgecam-finish", daemon=True)]
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(previous_interval, SWITCH_INTERVAL_S))
    for t in helpers:
        t.start()
    try:
        while True:
            tick()
            job = prepared.get(POLL_S)
            if job is END:
                break
            if job is not None and not inferred.put(infer(job)):
                break
    except BaseException as exc:
        errors.append(exc)
        stop.set()
    finally:
        prepared.close()
        inferred.close()  # the finish stage drains what it was handed, then ends
        for t in helpers:
            t.join()
        sys.setswitchinterval(previous_interval)
    if errors:
        raise errors[0]
