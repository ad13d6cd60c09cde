"""A RabbitMQ cluster of a test's own: three nodes on one machine, joined into one cluster.

Each node is a ``PrivateBroker`` (own node name, ports, data directory) started from the
installed RabbitMQ, all with one Erlang cookie; the second and third join the first
(``stop_app``, ``join_cluster``, ``start_app``). Quorum queues replicate to every node and
need a majority of them, so three nodes keep every queue working while one is down. The
cluster has a virtual host of its own, in which guest may do everything and the shared
exchanges are declared as ``manage.py migrate`` would (``tests/support/infra.py``
``create_vhost``). ``uri`` names the three nodes separated by ``;``: a process connects to
the first that answers and moves to the next when its node dies.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from pathlib import Path

from tests.support.broker import PrivateBroker


class ClusterError(RuntimeError):
    """A rabbitmqctl command against the cluster failed; the message says which and why."""


class PrivateCluster:
    def __init__(self, base: Path, size: int = 3) -> None:
        self.base = base
        tag = secrets.token_hex(3)
        cookie = secrets.token_hex(16)
        self.nodes = [
            PrivateBroker(
                base / f"node-{index}", name=f"prm-cluster-{tag}-{index}@localhost", cookie=cookie
            )
            for index in range(1, size + 1)
        ]
        self.vhost = f"prm-cluster-{tag}"
        #: Every node's AMQP URI for the cluster's virtual host, separated by ``;``.
        self.uri = ";".join(self.node_uri(node.name) for node in self.nodes)
        #: Nodes killed and not started again.
        self.down: set[str] = set()

    def node(self, name: str) -> PrivateBroker:
        return next(node for node in self.nodes if node.name == name)

    def node_uri(self, name: str) -> str:
        """The AMQP URI of node ``name`` for the cluster's virtual host."""
        return f"amqp://guest:guest@127.0.0.1:{self.node(name).port}/{self.vhost}"

    def create(self) -> None:
        """Start the nodes, join them into one cluster, make the virtual host (guest may do
        everything in it) and declare the shared exchanges and the parked queue in it."""
        first, *others = self.nodes
        for node in self.nodes:
            node.start()
        for node in others:
            node.join_cluster(first.name)
        running = self._running_nodes()
        if running != {node.name for node in self.nodes}:
            raise ClusterError(f"the cluster runs {sorted(running)}, not all three nodes")
        self.ctl("add_vhost", self.vhost)
        self.ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        from kombu import Connection

        from services.common.broker import declare_shared

        with Connection(self.uri, connect_timeout=10) as connection:
            declare_shared(connection.channel())

    def _running_nodes(self) -> set[str]:
        status = json.loads(self.ctl("cluster_status", "--formatter", "json"))
        return set(status.get("running_nodes", []))

    def ctl(self, *args: str, timeout: float = 60, input: str | None = None) -> str:
        """``rabbitmqctl ARGS`` against a node that is up; its output. Raises ClusterError."""
        node = next(node for node in self.nodes if node.name not in self.down)
        done = node.ctl(*args, timeout=timeout, input=input)
        if done.returncode != 0:
            raise ClusterError(
                f"rabbitmqctl -n {node.name} {' '.join(args[:2])} failed:"
                f" {(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def queues(self) -> list[tuple[str, str, str]]:
        """(name, type, leader node) of every queue of the virtual host; the leader is empty
        for a classic queue."""
        listed = self.ctl("list_queues", "name", "type", "leader", "--no-table-headers",
                          "-p", self.vhost)  # fmt: skip
        found = []
        for line in listed.splitlines():
            name, kind, leader = [*line.split("\t"), "", ""][:3]
            if name:
                found.append((name, kind, leader))
        return found

    def leaders(self) -> Counter:
        """Quorum queues led by each node (node name -> queues)."""
        return Counter(leader for _name, kind, leader in self.queues() if kind == "quorum")

    def kill_busiest(self) -> tuple[str, int]:
        """SIGKILL the node that leads the most quorum queues: its name and how many."""
        led = self.leaders()
        if not led:
            raise ClusterError("no quorum queue in the virtual host: nothing leads anything")
        name, count = led.most_common(1)[0]
        self.node(name).kill()
        self.down.add(name)
        return name, count

    def start(self, name: str) -> None:
        """Start node ``name`` again; it rejoins the cluster it was part of."""
        self.node(name).start()
        self.down.discard(name)

    def apply(self, document: dict) -> str:
        """Import RabbitMQ definitions (the stack's broker users) into the cluster."""
        self.ctl("import_definitions", "--format", "json", input=json.dumps(document))
        return f"rabbitmqctl import_definitions on the cluster of {self.nodes[0].name}"

    def remove_users(self, users: list[str]) -> None:
        """Delete ``users``; one already gone is not an error."""
        for user in users:
            try:
                self.ctl("delete_user", user)
            except ClusterError as exc:
                if "no_such_user" not in str(exc) and "does not exist" not in str(exc):
                    raise

    def remove(self) -> None:
        """Shut every node down and delete their data; their logs stay (``node-N/log``),
        for a run that went wrong to be read."""
        for node in self.nodes:
            if node.name not in self.down:
                node.stop()
            shutil.rmtree(node.base / "mnesia", ignore_errors=True)
