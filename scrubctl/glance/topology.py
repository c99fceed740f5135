"""What kind of database server Glance's database lives on: SQLite, one MySQL/MariaDB server, or a
node of a MariaDB Galera cluster (and whether that node may be used)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from scrubctl.glance.servers import server_kind

SYNCED = "Synced"
PRIMARY = "Primary"


@dataclass(frozen=True)
class Topology:
    """The server behind a connection, as ``check`` reports it."""

    kind: str  # "sqlite", "single server" or "galera"
    version: str | None = None
    cluster_size: int | None = None
    node_state: str | None = None  # wsrep_local_state_comment: Synced, Donor/Desynced, Joining, ...
    cluster_status: str | None = None  # wsrep_cluster_status: Primary, non-Primary, Disconnected
    sync_wait: int | None = None

    @property
    def problem(self) -> str | None:
        """Why this node must not be used, or ``None``."""
        if self.kind != "galera":
            return None
        if self.cluster_status != PRIMARY:
            return f"this Galera node is not in the primary component (cluster status {self.cluster_status})"
        if self.node_state != SYNCED:
            return f"this Galera node is {self.node_state}, not {SYNCED}"
        return None

    def describe(self) -> str:
        """One line: ``galera: 3 nodes, this node Synced, primary component, wsrep_sync_wait=1``."""
        if self.kind != "galera":
            return self.kind + (f" ({self.version})" if self.version else "")
        return (
            f"galera ({self.version}): {self.cluster_size} node(s), this node {self.node_state}, "
            f"cluster status {self.cluster_status}, wsrep_sync_wait={self.sync_wait}"
        )


def read_topology(connection: Connection) -> Topology:
    """Ask the server what it is."""
    kind = server_kind(connection)
    if not kind.clustered:
        return Topology(kind=kind.name)
    version = connection.exec_driver_sql("SELECT VERSION()").scalar()
    variables = _pairs(connection, "SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_sync_wait')")
    if str(variables.get("wsrep_on", "OFF")).upper() != "ON":
        return Topology(kind="single server", version=str(version))
    status = _pairs(
        connection,
        "SHOW STATUS WHERE Variable_name IN "
        "('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_cluster_status')",
    )
    size = status.get("wsrep_cluster_size")
    return Topology(
        kind="galera",
        version=str(version),
        cluster_size=int(size) if size not in (None, "") else None,
        node_state=status.get("wsrep_local_state_comment"),
        cluster_status=status.get("wsrep_cluster_status"),
        sync_wait=int(variables["wsrep_sync_wait"]) if "wsrep_sync_wait" in variables else None,
    )


def _pairs(connection: Connection, statement: str) -> dict[str, str]:
    return {str(name): str(value) for name, value in connection.exec_driver_sql(statement).all()}
