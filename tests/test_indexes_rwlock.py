"""The engine's readers-writer lock: readers together, writers alone and first, nesting."""

from __future__ import annotations

import threading
import time

import pytest

from indexes.rwlock import ReadWriteLock

WAIT_S = 5.0


def _thread(target: object) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    t.start()
    return t


def test_readers_hold_the_lock_together() -> None:
    lock = ReadWriteLock()
    both_inside = threading.Barrier(2, timeout=WAIT_S)

    def reader() -> None:
        with lock.read():
            both_inside.wait()  # raises BrokenBarrierError if the readers took turns

    threads = [_thread(reader) for _ in range(2)]
    for t in threads:
        t.join(WAIT_S)
    assert not both_inside.broken


def test_a_writer_excludes_readers_and_is_served_before_later_readers() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    first_reader_in, release_first = threading.Event(), threading.Event()

    def first_reader() -> None:
        with lock.read():
            first_reader_in.set()
            release_first.wait(WAIT_S)
            events.append("reader 1 out")

    def writer() -> None:
        with lock.write():
            events.append("writer in")
            time.sleep(0.05)
            events.append("writer out")

    def late_reader() -> None:
        with lock.read():
            events.append("reader 2 in")

    a = _thread(first_reader)
    assert first_reader_in.wait(WAIT_S)
    w = _thread(writer)
    while not lock._writers_waiting:  # the writer is queued behind the first reader
        time.sleep(0.001)
    b = _thread(late_reader)
    time.sleep(0.05)
    assert events == [], "a reader got in ahead of the waiting writer"
    release_first.set()
    for t in (a, w, b):
        t.join(WAIT_S)
    assert events == ["reader 1 out", "writer in", "writer out", "reader 2 in"]


def test_nesting() -> None:
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass  # the writer may re-enter and read its own state
    writer_in, writer_done = threading.Event(), threading.Event()

    def writer() -> None:
        with lock.write():
            writer_in.set()
            writer_done.wait(WAIT_S)

    with lock.read():
        waiting = _thread(writer)
        while not lock._writers_waiting:
            time.sleep(0.001)
        with lock.read():  # a nested read must not queue behind the waiting writer
            pass
        with pytest.raises(RuntimeError, match="reader cannot take the write lock"), lock.write():
            pass
        assert not writer_in.is_set()
    assert writer_in.wait(WAIT_S), "the writer never got in after the reader left"
    writer_done.set()
    waiting.join(WAIT_S)
