"""A throwaway one-node Slurm cluster on this machine (munged + slurmctld + slurmd on localhost).

    python scripts/slurm_cluster.py /tmp/slurm-test   # start; prints `export SLURM_CONF=...`; Ctrl-C stops

Used by tests/test_slurm.py to run a real multirun through `hydra/launcher=slurm`. Needs Debian's
slurm-wlm daemons (`apt-get install slurmctld slurmd slurm-client munge`) and root (slurmd runs
jobs as their user). Everything lives under one directory: config, munge key and socket, state,
logs; nothing in /etc is touched. Ports 16817/16818 keep clear of a real cluster's 6817/6818.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")


def missing_programs() -> list[str]:
    """The Slurm/munge programs that are not on PATH (or /usr/sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"
    return [name for name in DAEMONS if shutil.which(name, path=path) is None]


def _program(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin") or name


def slurm_conf(root: Path, node: str, cpus: int, memory_mb: int) -> str:
    return "\n".join([
        "ClusterName=lenbench",
        f"SlurmctldHost={node}",
        "SlurmUser=root",
        "SlurmctldPort=16817",
        "SlurmdPort=16818",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/slurmctld.log",
        f"SlurmdLogFile={root}/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        "MpiDefault=none",
        "ReturnToService=2",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        f"NodeName={node} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


class LocalSlurm:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(self, root: Path, cpus: int | None = None, memory_mb: int = 8192) -> None:
        self.root = Path(root).resolve()
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        """Environment for sbatch/squeue/the jobs: points the Slurm clients at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    def start(self, timeout: float = 60) -> LocalSlurm:
        (self.root / "munge").mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in ("state", "spool"):
            (self.root / name).mkdir(exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run([_program("mungekey"), "--create", f"--keyfile={key}"], check=True)
            os.chmod(key, 0o600)
        (self.root / "slurm.conf").write_text(slurm_conf(self.root, self.node, self.cpus, self.memory_mb))
        munge = self.root / "munge"
        self._spawn([_program("munged"), "--foreground", "--force", f"--key-file={key}",
                     f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
                     f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"], "munged")
        self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged socket")
        self._spawn([_program("slurmctld"), "-D", "-i", "-f", str(self.root / "slurm.conf")], "slurmctld")
        self._spawn([_program("slurmd"), "-D", "-f", str(self.root / "slurm.conf"), "-N", self.node], "slurmd")
        self._wait(self._node_idle, timeout, f"node {self.node} idle in sinfo")
        return self

    def _spawn(self, command: list[str], name: str) -> None:
        log = open(self.root / f"{name}.stdout", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env))

    def _node_idle(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; logs in {self.root}")
        state = subprocess.run([_program("sinfo"), "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
        return state.returncode == 0 and state.stdout.strip() == "idle"

    @staticmethod
    def _wait(ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.5)

    def _queue(self) -> list[str]:
        listed = subprocess.run([_program("squeue"), "-h", "-o", "%i"], env=self.env, capture_output=True, text=True)
        return listed.stdout.split() if listed.returncode == 0 else []

    def stop(self, drain_seconds: float = 60) -> None:
        """Cancel what is queued, wait for every job to leave the queue (COMPLETING included), then stop
        the daemons: a slurmd stopped under a completing job leaves its slurmstepd and srun behind."""
        if self.processes and all(p.poll() is None for p in self.processes):
            jobs = self._queue()
            if jobs:
                subprocess.run([_program("scancel"), *jobs], env=self.env, capture_output=True)
            try:
                self._wait(lambda: not self._queue(), drain_seconds, "the job queue to drain")
            except TimeoutError:
                pass  # stop anyway; the daemons' logs say what was left
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.root.glob("*.log")))

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    cluster = LocalSlurm(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/lenbench-slurm"))
    cluster.start()
    print(f"export SLURM_CONF={cluster.root / 'slurm.conf'}   # cluster up; Ctrl-C (or kill) stops it")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` stops it as Ctrl-C does
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
