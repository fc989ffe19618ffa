"""Fingerprinting in spawned worker processes gives what the calling thread would, errors included,
and survives its workers dying."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexes import LowInformationError, NotAnImageError, TruncatedImageError, fingerprint
from indexes.fingerprint_pool import FingerprintPool, WorkerDiedError
from tests.rights_support import artwork_png


@pytest.fixture(scope="module")
def pool() -> Iterator[FingerprintPool]:
    with FingerprintPool(2) as p:
        p.warm_up()
        yield p


def test_the_pool_gives_the_same_fingerprint_as_the_calling_thread(pool: FingerprintPool) -> None:
    data = artwork_png(3)
    for role in ("query", "reference"):
        here = fingerprint(data, role=role)
        there = pool.fingerprint(data, role=role)
        assert there == here  # the serialised content, byte for byte
        assert there.thumbnail is not None and here.thumbnail is not None
        assert np.array_equal(there.thumbnail, here.thumbnail)  # the search's aligned re-hash needs it


def test_typed_image_errors_cross_the_process_boundary(pool: FingerprintPool) -> None:
    with pytest.raises(NotAnImageError) as err:
        pool.fingerprint(b"this is not an image at all")
    assert err.value.code == "not_an_image"
    with pytest.raises(TruncatedImageError):
        pool.fingerprint(artwork_png(4)[:4000])
    # Never raised by the pipeline today, but it must not break the pool if it ever is.
    again = pickle.loads(pickle.dumps(LowInformationError("plain", information=0.25)))
    assert (again.message, again.information) == ("plain", 0.25)


def _workers() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.is_alive()]


def test_workers_killed_between_calls_are_replaced_without_failing_a_call() -> None:
    others = {w.pid for w in _workers()}
    with FingerprintPool(2) as p:
        p.warm_up()
        before = [w for w in _workers() if w.pid not in others]
        assert len(before) == 2
        for proc in before:
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.5)  # let the executor notice
        fp = p.fingerprint(artwork_png(5))
        assert len(fp.local) > 0
        assert not {w.pid for w in before} & {w.pid for w in _workers()}


def _die(data: bytes, *, role: str) -> None:
    os._exit(3)  # what an out-of-memory kill looks like to the pool


class _PoisonedPool(FingerprintPool):
    _target = staticmethod(_die)


def test_an_image_that_kills_its_worker_twice_gets_a_typed_error() -> None:
    with _PoisonedPool(1) as p:
        with pytest.raises(WorkerDiedError) as err:
            p.fingerprint(b"anything")
        assert err.value.code == "worker_died"
        assert "died twice" in err.value.message


def _die_at_start() -> None:
    os._exit(4)


class _StillbornPool(FingerprintPool):
    _start_worker = staticmethod(_die_at_start)


def test_workers_that_cannot_start_give_a_clear_error() -> None:
    with _StillbornPool(1) as p, pytest.raises(RuntimeError, match="RIGHTS_FINGERPRINT_PROCESSES=0"):
        p.warm_up()


def test_a_closed_pool_refuses_work() -> None:
    p = FingerprintPool(1)
    p.close()
    with pytest.raises(RuntimeError, match="closed"):
        p.fingerprint(artwork_png(6))


def _where(data: bytes, *, role: str) -> int:
    time.sleep(0.4)
    return os.getpid()


class _WherePool(FingerprintPool):
    _target = staticmethod(_where)


def test_inline_when_idle_hashes_a_lone_call_here_and_concurrent_ones_in_workers() -> None:
    with _WherePool(1, inline_when_idle=True) as p, ThreadPoolExecutor(2) as threads:
        p.warm_up()
        assert p.fingerprint(b"alone") == os.getpid()
        first = threads.submit(p.fingerprint, b"first")
        time.sleep(0.1)
        second = threads.submit(p.fingerprint, b"second")
        assert first.result() == os.getpid()
        assert second.result() != os.getpid()
