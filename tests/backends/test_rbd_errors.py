"""The rbd deleter's boundary: URL parsing, reasons, and how native Ceph errors are mapped.

The error mapping is exercised with FAKE ``rados``/``rbd`` modules injected into ``sys.modules``: the
only place a fake is used, because timeouts, refused keys and I/O errors at each step cannot be
produced on demand on the real cluster. Everything else is tested on the real cluster
(``tests/backends/test_rbd_ceph.py``).
"""

from __future__ import annotations

import errno
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends import DeleterRegistry
from scrubctl.backends.base import EraseOutcome, LocationBlocked, LocationFailed
from scrubctl.backends.rbd import BINDINGS_HINT, RbdDeleter, RbdUrl, child_name, clone_v2_enabled, describe, listed
from scrubctl.backends.rbd import parse_url as parse
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig, load_settings

FSID = "97972d88-26f7-471f-900a-50499ae3bc7c"
URL = f"rbd://{FSID}/images/img/snap"


# -- URLs and reasons (pure functions, no fake needed) -------------------------------------------


def test_urls_are_parsed_as_glance_store_parses_them() -> None:
    assert parse("rbd://img") == RbdUrl("img")
    assert parse("rbd://a%2Fb") == RbdUrl("a%2Fb")  # one component: taken verbatim
    assert parse(f"rbd://{FSID}/im%61ges/my%20img/sn%2Fap") == RbdUrl("my img", FSID, "images", "sn/ap")
    for url, reason in {
        "rbd://": "empty component",
        f"rbd://{FSID}//img/snap": "empty component",
        f"rbd://{FSID}/images/img/": "empty component",
        "rbd://a/b": "exactly 1 or 4 components, not 2",
        f"rbd://{FSID}/images/img": "exactly 1 or 4 components, not 3",
        f"rbd://{FSID}/images/img/snap/x": "exactly 1 or 4 components, not 5",
        f"rbd://{FSID}/images/img%00other/snap": "NUL",
        "RBD://img": "not an rbd:// URL",
        "file:///img": "not an rbd:// URL",
    }.items():
        with pytest.raises(LocationBlocked, match=reason):
            parse(url)


def test_reasons_name_at_most_three_and_mark_trashed_children() -> None:
    assert listed(["a", "b"]) == "a, b"
    assert listed(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"
    child = {"pool": "vms", "pool_namespace": "", "image": "disk", "id": "1", "trash": False}
    assert child_name(child) == "vms/disk"
    assert child_name({**child, "pool_namespace": "tenant", "trash": True}) == "vms/tenant/disk (in the RBD trash)"


def test_clone_v2_needs_mimic_or_later() -> None:
    assert not clone_v2_enabled("jewel") and not clone_v2_enabled("luminous")
    assert all(clone_v2_enabled(name) for name in ("mimic", "nautilus", "pacific", "squid", "tentacle\n"))


# -- a fake librados/librbd ----------------------------------------------------------------------


class NativeError(Exception):
    """Shaped like the bindings' errors: ``errno`` attribute, ``[errno N] message``."""

    def __init__(self, message: str = "", errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:
        return f"[errno {self.errno}] {self.args[0]}"


@dataclass
class FakeImage:
    size: int = 4 << 20
    snapshots: dict[str, bool] = field(default_factory=lambda: {"snap": True})  # name -> protected
    children: list[dict[str, Any]] = field(default_factory=list)
    watchers: list[str] = field(default_factory=list)


@dataclass
class FakeCluster:
    """The state the fake bindings serve, the errors to raise per call, and the calls seen."""

    pools: dict[str, dict[str, FakeImage]] = field(default_factory=lambda: {"images": {}})
    fail: dict[str, Exception] = field(default_factory=dict)
    mon_answer: tuple[int, bytes, str] = (0, b"luminous\n", "")
    calls: list[str] = field(default_factory=list)
    conf: dict[str, str] = field(default_factory=dict)

    def call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]


def fake_modules(cluster: FakeCluster) -> tuple[types.ModuleType, types.ModuleType]:
    rados: Any = types.ModuleType("rados")
    rbd: Any = types.ModuleType("rbd")
    rados.Error = type("Error", (NativeError,), {})
    for name in ("TimedOut", "ObjectNotFound", "PermissionDeniedError", "PermissionError"):
        setattr(rados, name, type(name, (rados.Error,), {}))
    rbd.Error = type("Error", (NativeError,), {})
    for name in ("Timeout", "ImageNotFound", "ImageBusy", "ImageHasSnapshots", "PermissionError", "IOError"):
        setattr(rbd, name, type(name, (rbd.Error,), {}))
    rbd.RBD_SNAP_NAMESPACE_TYPE_USER, rbd.RBD_SNAP_NAMESPACE_TYPE_TRASH = 0, 2

    class IoCtx:
        def __init__(self, pool: str) -> None:
            self.pool = pool

        def close(self) -> None:
            cluster.calls.append("ioctx.close")

    class Rados:
        def __init__(self, conffile: str, rados_id: str | None, conf: dict[str, str]) -> None:
            cluster.conf = conf
            cluster.call("Rados")

        def connect(self) -> None:
            cluster.call("connect")

        def get_fsid(self) -> str:
            return FSID

        def open_ioctx(self, pool: str) -> IoCtx:
            cluster.call("open_ioctx")
            if pool not in cluster.pools:
                raise rados.ObjectNotFound("error opening pool", errno.ENOENT)
            return IoCtx(pool)

        def mon_command(self, command: str, inbuf: bytes) -> tuple[int, bytes, str]:
            cluster.call("mon_command")
            return cluster.mon_answer

        def shutdown(self) -> None:
            cluster.calls.append("shutdown")

    class Image:
        def __init__(self, ioctx: IoCtx, name: str, read_only: bool = False) -> None:
            cluster.call("open" if read_only else "open_rw")
            if name not in cluster.pools[ioctx.pool]:
                raise rbd.ImageNotFound("RBD image not found", errno.ENOENT)
            self.state = cluster.pools[ioctx.pool][name]

        def __getattr__(self, name: str) -> Any:
            def method(*args: Any) -> Any:
                cluster.call(name)
                state = self.state
                methods: dict[str, Callable[..., Any]] = {
                    "id": lambda: "abc123",
                    "size": lambda: state.size,
                    "list_snaps": lambda: [{"name": snap, "namespace": 0} for snap in state.snapshots],
                    "is_protected_snap": lambda snap: state.snapshots[snap],
                    "list_children2": lambda: state.children,
                    "watchers_list": lambda: [{"addr": addr, "id": 1, "cookie": 2} for addr in state.watchers],
                    "unprotect_snap": lambda snap: state.snapshots.__setitem__(snap, False),
                    "remove_snap": lambda snap: state.snapshots.pop(snap),
                    "close": lambda: None,
                }
                return methods[name](*args)

            return method

    class RBD:
        def remove(self, ioctx: IoCtx, name: str) -> None:
            cluster.call("remove")
            if cluster.pools[ioctx.pool].pop(name, None) is None:
                raise rbd.ImageNotFound("RBD image not found", errno.ENOENT)

        def trash_move(self, ioctx: IoCtx, name: str, delay: int) -> None:
            cluster.call("trash_move")
            cluster.pools[ioctx.pool].pop(name)

        def list(self, ioctx: IoCtx) -> list[str]:
            cluster.call("list")
            return list(cluster.pools[ioctx.pool])

    rados.Rados = Rados
    rbd.Image, rbd.RBD = Image, RBD
    return rados, rbd


MUTATING = {"unprotect_snap", "remove_snap", "remove", "trash_move", "open_rw"}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    state = FakeCluster()
    state.pools["images"]["img"] = FakeImage()
    rados, rbd = fake_modules(state)
    monkeypatch.setitem(sys.modules, "rados", rados)
    monkeypatch.setitem(sys.modules, "rbd", rbd)
    return state


def store(tmp_path: Path, extra: str = "") -> StoreConfig:
    config = tmp_path / "glance-api.conf"
    config.write_text(
        "[database]\nconnection = sqlite://\n[glance_store]\nrbd_store_pool = images\nrbd_store_user = glance\n"
        f"rbd_store_ceph_conf = /etc/ceph/ceph.conf\n{extra}"
    )
    return load_settings([config], None).store(None, "rbd")


@pytest.fixture
def deleter(cluster: FakeCluster, tmp_path: Path) -> Iterator[RbdDeleter]:
    made = RbdDeleter(store(tmp_path, "rados_connect_timeout = 7\n"), {"rbd_clones": "block"})
    yield made
    made.close()


def native(module: str, name: str, number: int, message: str = "failed") -> Exception:
    error: Exception = getattr(sys.modules[module], name)(message, number)
    return error


# -- the mapping ---------------------------------------------------------------------------------


def test_missing_bindings_block_every_call_with_the_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "rados", None)  # import rados -> ImportError
    monkeypatch.setitem(sys.modules, "rbd", None)
    factory = DeleterRegistry().factory("rbd")  # the module itself imports without the bindings
    deleter = factory(store(tmp_path), {})
    for call in (
        lambda: deleter.erase(URL, dry_run=False),
        lambda: deleter.erase("rbd://not/a/valid/url/at/all", dry_run=True),
        lambda: deleter.exists(URL),
        lambda: deleter.blockers(URL),
    ):
        with pytest.raises(LocationBlocked) as raised:
            call()
        assert str(raised.value) == BINDINGS_HINT
    assert deleter.check() == [BINDINGS_HINT]
    deleter.close()


def test_timeouts_come_from_rados_connect_timeout(cluster: FakeCluster, tmp_path: Path) -> None:
    for line, seconds in (("", "30"), ("rados_connect_timeout = 0\n", "30"), ("rados_connect_timeout = 2.5\n", "3")):
        deleter = RbdDeleter(store(tmp_path, line), {})
        assert deleter.exists(URL)
        assert cluster.conf == {
            **dict.fromkeys(("client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"), seconds),
            "log_to_stderr": "false",  # librados' own lines stay off stderr (tests/backends/test_rbd_ceph.py sees it)
            "err_to_stderr": "false",
        }
        deleter.close()
    debugging = RbdDeleter(store(tmp_path, ""), {"debug": "true"})  # under --debug they are let through
    assert debugging.exists(URL)
    assert "log_to_stderr" not in cluster.conf and "err_to_stderr" not in cluster.conf
    debugging.close()
    broken = RbdDeleter(store(tmp_path, "rados_connect_timeout = soon\n"), {})
    with pytest.raises(BackendUnavailableError, match="rados_connect_timeout must be a number"):
        broken.erase(URL, dry_run=False)


@pytest.mark.parametrize(
    ("call", "error", "reason"),
    [
        ("Rados", ("rados", "ObjectNotFound", errno.ENOENT), "configuration file, keyring or key not found"),
        ("connect", ("rados", "TimedOut", errno.ETIMEDOUT), "no answer from the Ceph monitors within 7 s"),
        ("connect", ("rados", "PermissionDeniedError", errno.EACCES), "authentication refused"),
        ("connect", ("rados", "Error", errno.EINVAL), "cannot connect"),
    ],
)
def test_an_unreachable_cluster_is_unavailable_once_for_the_run(
    cluster: FakeCluster, deleter: RbdDeleter, call: str, error: tuple[str, str, int], reason: str
) -> None:
    cluster.fail[call] = native(*error)
    with pytest.raises(BackendUnavailableError, match=reason) as raised:
        deleter.erase(URL, dry_run=False)
    assert "client.glance" in str(raised.value) and "/etc/ceph/ceph.conf" in str(raised.value)
    assert ("shutdown" in cluster.calls) == (call == "connect")  # a handle that failed to connect is shut down
    attempts = cluster.calls.count(call)
    with pytest.raises(BackendUnavailableError, match=reason):
        deleter.blockers(URL)
    assert deleter.check() and cluster.calls.count(call) == attempts  # no second wait on a dead cluster


def test_pools(cluster: FakeCluster, deleter: RbdDeleter, tmp_path: Path) -> None:
    with pytest.raises(LocationBlocked, match="pool vms named by the URL does not exist"):
        deleter.erase(f"rbd://{FSID}/vms/img/snap", dry_run=False)
    cluster.pools["vms"] = {"img": FakeImage()}
    cluster.fail["open"] = native("rbd", "PermissionError", errno.EPERM)
    with pytest.raises(LocationBlocked, match=r"not readable by client\.glance"):
        deleter.erase(f"rbd://{FSID}/vms/img/snap", dry_run=False)
    with pytest.raises(BackendUnavailableError, match=r"client\.glance lacks the rights"):
        deleter.erase(URL, dry_run=False)  # the store's own pool: the whole store is unusable
    cluster.pools.pop("images")
    missing = RbdDeleter(store(tmp_path), {})
    with pytest.raises(BackendUnavailableError, match="opening pool images"):
        missing.erase(URL, dry_run=False)
    missing.close()


def test_wrong_fsid_is_refused_before_anything_is_read(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    other = URL.replace(FSID, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(LocationBlocked, match=f"but store rbd is cluster {FSID}"):
        deleter.erase(other, dry_run=False)
    assert "open" not in cluster.calls


def test_a_plain_image_is_unprotected_unsnapped_and_removed(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    assert deleter.erase(URL, dry_run=True).outcome is EraseOutcome.WOULD_ERASE
    assert not MUTATING & set(cluster.calls)
    result = deleter.erase(URL, dry_run=False)
    assert (result.outcome, result.bytes_freed) == (EraseOutcome.ERASED, 4 << 20)
    mutations = [call for call in cluster.calls if call in MUTATING | {"mon_command"}]
    assert mutations == ["mon_command", "mon_command", "open_rw", "unprotect_snap", "remove_snap", "remove"]
    assert deleter.erase(URL, dry_run=False).outcome is EraseOutcome.ALREADY_GONE


@pytest.mark.parametrize(
    ("call", "error", "expected", "reason"),
    [
        ("unprotect_snap", ("rbd", "ImageBusy", errno.EBUSY), LocationBlocked, "is in use"),
        ("remove_snap", ("rbd", "Timeout", errno.ETIMEDOUT), BackendUnavailableError, "no answer within 7 s"),
        ("remove", ("rbd", "ImageBusy", errno.EBUSY), LocationBlocked, "is in use"),
        ("remove", ("rbd", "ImageHasSnapshots", errno.ENOTEMPTY), LocationBlocked, "still has snapshots"),
        ("remove", ("rbd", "IOError", errno.EIO), LocationFailed, "removing RBD image images/img failed: EIO"),
        ("remove", ("rados", "TimedOut", errno.ETIMEDOUT), BackendUnavailableError, "ETIMEDOUT"),
        ("list_children2", ("rbd", "Error", errno.EINVAL), LocationFailed, "reading RBD image images/img failed"),
    ],
)
def test_native_errors_at_each_step(
    cluster: FakeCluster,
    deleter: RbdDeleter,
    call: str,
    error: tuple[str, str, int],
    expected: type[Exception],
    reason: str,
) -> None:
    cluster.fail[call] = native(*error)
    with pytest.raises(expected, match=reason):
        deleter.erase(URL, dry_run=False)


def test_image_gone_at_any_step_counts_as_erased(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    for step in ("open", "unprotect_snap", "remove_snap", "remove"):
        cluster.pools["images"]["img"] = FakeImage()
        cluster.fail = {step: native("rbd", "ImageNotFound", errno.ENOENT)}
        outcome = deleter.erase(URL, dry_run=False).outcome
        if step in ("open", "remove"):
            assert outcome is EraseOutcome.ALREADY_GONE, step
        else:  # the snapshot went away under us: the image itself is still removed
            assert outcome is EraseOutcome.ERASED, step


def test_a_silent_monitor_stops_the_erase_before_unprotect(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    cluster.mon_answer = (-errno.ETIMEDOUT, b"", "timed out")
    with pytest.raises(BackendUnavailableError, match="monitors did not answer within 7 s"):
        deleter.erase(URL, dry_run=False)
    assert not MUTATING & set(cluster.calls)
    with pytest.raises(BackendUnavailableError):  # and the store stays down for the run
        deleter.exists(URL)


def test_a_refusing_monitor_still_proves_it_is_up(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    cluster.mon_answer = (-errno.EACCES, b"", "access denied")
    assert deleter.erase(URL, dry_run=False).outcome is EraseOutcome.ERASED


def test_clone_policies(cluster: FakeCluster, tmp_path: Path) -> None:
    image = cluster.pools["images"]["img"]
    image.children = [{"pool": "vms", "pool_namespace": "", "image": f"disk{n}", "trash": n == 0} for n in range(5)]
    blocking = RbdDeleter(store(tmp_path), {"rbd_clones": "block"})
    trashing = RbdDeleter(store(tmp_path), {"rbd_clones": "trash"})
    (reason,) = blocking.blockers(URL)
    assert "5 clone(s): vms/disk0 (in the RBD trash), vms/disk1, vms/disk2 and 2 more" in reason
    with pytest.raises(LocationBlocked, match="clone v2 not enabled: require_min_compat_client is luminous"):
        trashing.erase(URL, dry_run=False)
    cluster.mon_answer = (0, b"mimic\n", "")
    assert trashing.erase(URL, dry_run=True).detail == "would be moved to RBD trash, 5 clones remain"
    assert not MUTATING & set(cluster.calls)
    result = trashing.erase(URL, dry_run=False)
    assert result.outcome is EraseOutcome.TRASHED
    assert result.detail.startswith("moved to RBD trash, 5 clones remain")
    assert [call for call in cluster.calls if call in MUTATING] == [
        "open_rw",
        "unprotect_snap",
        "remove_snap",
        "trash_move",
    ]
    for deleter in (blocking, trashing):
        deleter.close()
    with pytest.raises(BackendUnavailableError, match="unknown rbd_clones policy"):
        RbdDeleter(store(tmp_path), {"rbd_clones": "flatten"}).erase(URL, dry_run=False)


def test_watchers_and_unnamed_snapshots_block(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    image = cluster.pools["images"]["img"]
    image.watchers = ["10.0.0.5:0/123", "10.0.0.6:0/456"]
    image.snapshots["backup"] = False
    with pytest.raises(LocationBlocked) as raised:
        deleter.erase(URL, dry_run=False)
    assert "open by another client (watchers: 10.0.0.5:0/123, 10.0.0.6:0/456)" in str(raised.value)
    assert "snapshot(s) its location does not name: backup" in str(raised.value)
    assert not MUTATING & set(cluster.calls)


def test_describe_names_the_errno() -> None:
    assert describe(NativeError("RBD image not found (x)", errno.ENOENT)) == "ENOENT: RBD image not found (x)"
    assert describe(ValueError("odd")) == "ValueError: odd"


def test_close_shuts_the_handle_down(cluster: FakeCluster, deleter: RbdDeleter) -> None:
    assert deleter.check() == []
    deleter.close()
    assert cluster.calls[-2:] == ["ioctx.close", "shutdown"]
