"""The contract every deleter keeps, as pytest tests any deleter reruns in a few lines.

Subclass :class:`DeleterContract` in a test module (its name must start with ``Test``) and provide
these fixtures, against a real store::

    deleter      a Deleter of a reachable store
    make_data    a callable that stores new data in that store and returns its location URL
    foreign_url  a URL of the same scheme that this store must refuse (another store's data)
    unreachable  (deleter, url): a deleter whose store cannot be reached, and a URL of that store
    timeout      the bound, in seconds, that deleter is configured with

For example::

    from scrubctl.testing.deleter_contract import DeleterContract

    class TestMyDeleter(DeleterContract):
        @pytest.fixture
        def deleter(self, my_store): ...

Every case asserts what an operator would notice: data gone or still there (through the deleter's
own ``exists`` and the store), the outcome reported, the reason given. The suite needs pytest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from scrubctl.backends.base import Deleter, EraseOutcome, EraseProgress, LocationBlocked, erase_reporting
from scrubctl.errors import BackendUnavailableError

# How much longer than its configured timeout an unreachable store may take to be declared so
# (client start-up, a DNS lookup, a slow test machine).
TIMEOUT_SLACK_SECONDS = 3.0


class DeleterContract:
    """The cases every deleter passes; see the module docstring for the fixtures to provide."""

    def test_erase_then_gone(self, deleter: Deleter, make_data: Callable[[], str]) -> None:
        url = make_data()
        assert deleter.exists(url)
        result = deleter.erase(url, dry_run=False)
        assert result.outcome is EraseOutcome.ERASED, result
        assert result.detail
        assert not deleter.exists(url)

    def test_erase_twice_is_already_gone(self, deleter: Deleter, make_data: Callable[[], str]) -> None:
        url = make_data()
        assert deleter.erase(url, dry_run=False).outcome is EraseOutcome.ERASED
        again = deleter.erase(url, dry_run=False)
        assert again.outcome is EraseOutcome.ALREADY_GONE, again
        assert not again.bytes_freed
        assert deleter.erase(url, dry_run=True).outcome is EraseOutcome.ALREADY_GONE

    def test_dry_run_changes_nothing(self, deleter: Deleter, make_data: Callable[[], str]) -> None:
        url = make_data()
        result = deleter.erase(url, dry_run=True)
        assert result.outcome is EraseOutcome.WOULD_ERASE, result
        assert deleter.exists(url)
        assert deleter.erase(url, dry_run=False).outcome is EraseOutcome.ERASED

    def test_progress_is_reported_in_order_and_never_in_a_dry_run(
        self, deleter: Deleter, make_data: Callable[[], str]
    ) -> None:
        """A deleter that says ``reports_progress`` takes the callback, calls it with counts that
        grow up to their total (from any thread), and erases exactly as without it; one that does
        not say so is never handed one."""
        url = make_data()
        heard: list[EraseProgress] = []
        lock = threading.Lock()

        def progress(step: EraseProgress) -> None:
            with lock:
                heard.append(step)

        assert erase_reporting(deleter, url, dry_run=True, progress=progress).outcome is EraseOutcome.WOULD_ERASE
        assert heard == []
        assert erase_reporting(deleter, url, dry_run=False, progress=progress).outcome is EraseOutcome.ERASED
        assert not deleter.exists(url)
        if not getattr(deleter, "reports_progress", False):
            assert heard == []
        done = [step.done for step in heard]
        assert done == sorted(done)
        assert all(0 <= step.done <= step.total and step.unit for step in heard)
        assert all(0.0 <= step.fraction <= 1.0 for step in heard)

    def test_exists_true_and_false(self, deleter: Deleter, make_data: Callable[[], str]) -> None:
        present, erased = make_data(), make_data()
        deleter.erase(erased, dry_run=False)
        assert deleter.exists(present) is True
        assert deleter.exists(erased) is False

    def test_url_outside_the_store_is_refused(self, deleter: Deleter, foreign_url: str) -> None:
        with pytest.raises(LocationBlocked) as refused:
            deleter.erase(foreign_url, dry_run=False)
        assert str(refused.value)
        with pytest.raises(LocationBlocked):
            deleter.erase(foreign_url, dry_run=True)
        with pytest.raises(LocationBlocked):
            deleter.exists(foreign_url)

    def test_blockers_explained(self, deleter: Deleter, make_data: Callable[[], str], foreign_url: str) -> None:
        assert deleter.blockers(make_data()) == []
        reasons = deleter.blockers(foreign_url)
        assert reasons
        assert all(isinstance(reason, str) and reason for reason in reasons)

    def test_unreachable_store_is_unavailable_within_the_timeout(
        self, unreachable: tuple[Deleter, str], timeout: float
    ) -> None:
        deleter, url = unreachable
        for call in (lambda: deleter.erase(url, dry_run=True), lambda: deleter.exists(url)):
            started = time.monotonic()
            with pytest.raises(BackendUnavailableError) as down:
                call()
            assert time.monotonic() - started <= timeout + TIMEOUT_SLACK_SECONDS
            assert str(down.value)
        assert deleter.check()

    def test_check_of_a_healthy_store(self, deleter: Deleter) -> None:
        assert deleter.check() == []
