"""The per-worker memory of URL results: bounded, most recent kept, and it expires."""

from __future__ import annotations

import time

from workers.url_results import RecentResults


def test_the_least_recently_used_url_goes_first() -> None:
    recent: RecentResults[int] = RecentResults(2, ttl_s=60)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # a is now the most recent
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c"), len(recent)) == (1, None, 3, 2)


def test_a_result_is_forgotten_after_its_time() -> None:
    recent: RecentResults[int] = RecentResults(8, ttl_s=0.05)
    recent.put("a", 1)
    assert recent.get("a") == 1
    time.sleep(0.1)
    assert recent.get("a") is None and len(recent) == 0
