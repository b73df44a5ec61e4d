"""A Ray cluster of two nodes on loopback, for the scale tier and the benchmarks.

Node `A` is the head (GCS) on 127.0.0.2, node `B` a worker node on 127.0.0.3: Ray rewrites
127.0.0.1 to the machine's primary address, and a joining node then cannot reach a GCS bound to
loopback. Each node is one `ray start` run in its own session (`setsid`): every process of the
node (gcs_server, raylet, agents, workers) keeps that session id, so `kill_node("B")` SIGKILLs the
whole node as a machine failure would, and `stop()` kills every process this cluster started by
PID. Never `ray stop`: it kills every Ray process of the user on the machine, other clusters too.

Token authentication (on by default since Ray 2.5x) uses a token file of this cluster
(`RAY_AUTH_TOKEN_PATH`), so nothing is read from or written to `~/.ray`. A driver process needs
`driver_env` in its environment (`apply_driver_env()` for this process) and
`ray.init(address=cluster.address, _node_ip_address=HEAD_IP)`. Node health checks are tuned so the
GCS declares a killed node dead after about 1.5 s instead of about 15 s.

A reaper process kills the cluster if the process that started it dies without `stop()` (Ray
terminates a driver whose GCS is gone for a minute: a test run must not leak a cluster then).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HEAD_IP = "127.0.0.2"
NODE_IPS = {"A": HEAD_IP, "B": "127.0.0.3"}
RAY = str(Path(sys.executable).parent / "ray")
OBJECT_STORE_BYTES = 80 * 1024 * 1024
START_TIMEOUT_SECONDS = 90.0
# GCS health checks of the raylets: a node missing 3 checks 500 ms apart is dead (Ray's default: 5 x 3 s)
HEALTH_CHECK_ENV = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}
# Unix socket paths (<temp>/session_<date>_<pid>/sockets/plasma_store) must stay under 107 characters
MAX_TEMP_DIR_CHARS = 40
def free_port() -> int:
    """A TCP port free on every interface (Ray's servers listen on all of them)."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: the fields after it start behind the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[3]) if fields[0] != "Z" else None  # fields[0] is the state, [3] the session id


def session_pids(session_id: int) -> list[int]:
    """Live (not zombie) processes of a session."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _session_of(int(entry)) == session_id:
            pids.append(int(entry))
    return sorted(pids)


@dataclass
class RayNode:
    """One `ray start` of the cluster: its session groups all its processes."""

    name: str
    ip: str
    temp_dir: Path
    session_id: int = 0
    pids: set[int] = field(default_factory=set)  # every process seen in the node's session

    def processes(self) -> list[int]:
        """The node's live processes now (and records them)."""
        live = session_pids(self.session_id) if self.session_id else []
        self.pids.update(live)
        return sorted({p for p in self.pids if _session_of(p) == self.session_id})

    @property
    def alive(self) -> bool:
        return bool(self.processes())


class LocalRayCluster:
    """`start()` both nodes, `kill_node` / `restart_node` one, `stop()` all (also as a context manager)."""

    def __init__(self, root: Path | None = None, num_cpus: int = 1, object_store_bytes: int = OBJECT_STORE_BYTES,
                 names: tuple[str, ...] = ("A", "B"), token_path: Path | None = None) -> None:
        """`token_path`: an existing token file to share (a driver process holds one token: a second
        cluster it connects to must use the same); default: a new token under `root`."""
        self._own_root = root is None
        short_tmp = "/tmp" if Path("/tmp").is_dir() else None
        self.root = Path(root or tempfile.mkdtemp(prefix="jpray-", dir=short_tmp))
        self.num_cpus = num_cpus
        self.object_store_bytes = object_store_bytes
        self.names = names
        self.port = free_port()
        self.token_path = token_path or self.root / "auth_token"
        self.nodes: dict[str, RayNode] = {}
        self._starts = 0
        self._worker_port_blocks: set[int] = set()
        self._listing = self.root / "sessions"
        self._reaper: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    @property
    def driver_env(self) -> dict[str, str]:
        """What a driver (a process calling `ray.init(address=...)`) needs in its environment."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    def apply_driver_env(self) -> None:
        """Make this process a driver of the cluster (before its first `ray.init`)."""
        os.environ.update(self.driver_env)
        os.environ.pop("RAY_ADDRESS", None)

    def _node_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
        return {**env, **self.driver_env, **HEALTH_CHECK_ENV}

    def _worker_ports(self) -> tuple[int, int]:
        """A block of 200 ports for a node's workers, apart from the other nodes' blocks (both
        nodes share the machine's ports; Ray's default range is one for all)."""
        while True:
            base = random.randrange(10_200, 19_800, 200)
            if base not in self._worker_port_blocks:
                self._worker_port_blocks.add(base)
                return base, base + 199

    def _command(self, node: RayNode) -> list[str]:
        low, high = self._worker_ports()
        common = [f"--node-ip-address={node.ip}", f"--num-cpus={self.num_cpus}",
                  f'--resources={{"node{node.name}": 1}}', f"--temp-dir={node.temp_dir}",
                  f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats",
                  f"--min-worker-port={low}", f"--max-worker-port={high}",
                  f"--dashboard-agent-listen-port={free_port()}"]
        if node.name == self.names[0]:
            return [RAY, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
                    f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}", *common]
        return [RAY, "start", f"--address={self.address}", *common]

    def start(self) -> LocalRayCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.token_path.exists():
            self.token_path.write_text(secrets.token_hex(32))
            self.token_path.chmod(0o600)
        self._listing.write_text("")
        self._reaper = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), str(self._listing),
                                         "remove" if self._own_root else "keep"],
                                        start_new_session=True)  # in no node's session: kill_node spares it
        try:
            for name in self.names:
                self.start_node(name)
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, name: str) -> RayNode:
        """Start node `name` (again, after `kill_node`: a fresh temp dir, a new Ray node id)."""
        if name in self.nodes and self.nodes[name].alive:
            raise RuntimeError(f"node {name} is running")
        self._starts += 1
        temp_dir = self.root / f"{name}{self._starts}"
        if len(str(temp_dir)) > MAX_TEMP_DIR_CHARS:
            raise RuntimeError(f"{temp_dir}: too long for Ray's unix sockets (at most {MAX_TEMP_DIR_CHARS} chars)")
        node = RayNode(name, NODE_IPS.get(name, f"127.0.0.{2 + self.names.index(name)}"), temp_dir)
        log_path = self.root / f"{name}{self._starts}.start.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(self._command(node), env=self._node_env(), stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        node.session_id = process.pid  # the session leader: `ray start` itself, gone once the node is up
        self.nodes[name] = node
        with self._listing.open("a") as listing:
            listing.write(f"{node.session_id}\n")
        try:
            code = process.wait(timeout=START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0 or not node.alive:
            raise RuntimeError(f"ray start of node {name} failed ({code}):\n{log_path.read_text()[-3000:]}")
        node.processes()
        return node

    def kill_node(self, name: str, timeout: float = 10.0) -> list[int]:
        """SIGKILL every process of node `name` (a machine failure); returns their PIDs."""
        node = self.nodes[name]
        killed: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = node.processes()
            if not live:
                return sorted(killed)
            for pid in live:  # a raylet may start a worker while we kill: loop until none is left
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"node {name}: processes {node.processes()} survived SIGKILL")

    def restart_node(self, name: str) -> RayNode:
        if self.nodes[name].alive:
            self.kill_node(name)
        return self.start_node(name)

    def pids(self) -> dict[str, list[int]]:
        return {name: node.processes() for name, node in self.nodes.items()}

    def stop(self) -> None:
        """Kill every process this cluster started (workers first, the head last), by PID."""
        for name in reversed(list(self.nodes)):
            self.kill_node(name)
        self._listing.unlink(missing_ok=True)
        if self._reaper is not None:
            try:
                self._reaper.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
            self._reaper = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reap(parent: int, listing: Path, remove_root: bool) -> None:
    """The reaper's body: once `parent` is gone (this process reparented), SIGKILL every process of
    the sessions in `listing` (and remove the cluster's directory if it made it); return quietly once
    `listing` is removed (the cluster was stopped)."""
    while listing.exists() and os.getppid() == parent:
        time.sleep(0.5)
    if not listing.exists():
        return
    sessions = {int(line) for line in listing.read_text().split()}
    for _ in range(50):
        live = [pid for sid in sessions for pid in session_pids(sid)]
        if not live:
            break
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    listing.unlink(missing_ok=True)
    if remove_root:
        shutil.rmtree(listing.parent, ignore_errors=True)


if __name__ == "__main__":
    reap(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "remove")
