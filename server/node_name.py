"""A node's name on Redis: one process holds it at a time, and says who it is.

The database records sessions under node names, so two live processes of one name would end
each other's sessions. A node claims its name before it touches the database; the claim is a
key with a TTL that the node's heartbeat renews, holding who holds it (:class:`Holder`): the
machine, the process id and when that process started. A node restarted after a crash
(``kill -9``) finds its name still held by a process of the same machine that no longer exists,
and takes it back at once; a holder it cannot prove dead (alive, or on another machine) keeps
the name until its heartbeat expires.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cloudbrain.errors import CloudBrainError

log = logging.getLogger(__name__)

PREFIX = "cloudbrain"
NODE_TTL_SECONDS = 10  # a node not heard of for this long is gone
GONE, ZOMBIE = "gone", "zombie"  # what /proc says of a process that is no more

# Set KEYS[1] to ARGV[2] only while it still holds ARGV[1]: of two processes taking over from
# one dead holder at once, one wins.
_REPLACE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""
# Delete the keys only while KEYS[1] holds ARGV[1]: a process ending must not remove the
# registration of another that holds the name now.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', unpack(KEYS))
end
return 0
"""


def alive_key(node: str) -> str:
    return f"{PREFIX}:alive:{node}"


@dataclass(frozen=True)
class Holder:
    """The process that holds a node name, as it described itself."""

    host: str  # the host name, for people
    machine: str  # host, boot and pid namespace: where ``pid`` names this very process
    pid: int
    started: str  # the process's start time as the kernel counts it ("" where unknown)
    instance: str  # random: no two runs look alike, even with a reused pid

    @classmethod
    def this_process(cls) -> Holder:
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            machine=_machine(),
            pid=pid,
            started=_start_time(pid) or "",
            instance=uuid.uuid4().hex,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Holder | None:
        """The holder a key names; None for a value this version does not know (an older
        node's, say), which is never taken as proof of anything."""
        try:
            data = json.loads(text)
            return cls(
                host=str(data["host"]),
                machine=str(data["machine"]),
                pid=int(data["pid"]),
                started=str(data["started"]),
                instance=str(data["instance"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def provably_dead(self) -> bool:
        """Whether this holder is certainly gone: it ran on this machine (same host, boot and
        pid namespace), and its pid is free now, a zombie, or another process's (one that
        started at another time; this one, even). Anything else (another machine, a pid that
        still runs the process that holds it, another server in this very process) may be
        alive."""
        if self.machine != _machine():
            return False
        state = _process_state(self.pid)
        if state is None:  # no /proc: only a free pid proves anything
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except OSError:
                return False  # it exists (as another user's process, say)
            return False
        return state in (GONE, ZOMBIE) or bool(self.started and state != self.started)


class NodeName:
    """This process's hold on a node name: :meth:`claim` at start, :meth:`renew` with each
    heartbeat, :meth:`release` at a clean stop."""

    def __init__(self, redis: aioredis.Redis, node: str) -> None:
        self.redis = redis
        self.node = node
        self.holder = Holder.this_process()
        self.value = self.holder.to_json()
        self.key = alive_key(node)

    async def claim(self) -> None:
        """Take the name, or raise :class:`CloudBrainError` saying who holds it and until
        when. Without Redis nothing can be checked: the node starts, and joins when Redis is
        back."""
        try:
            for _ in range(3):  # the holder's key may expire between two looks
                if await self.redis.set(self.key, self.value, ex=NODE_TTL_SECONDS, nx=True):
                    return
                raw = await self.redis.get(self.key)
                if raw is None:
                    continue
                if raw == self.value.encode():
                    return  # this process's already
                ttl = int(await self.redis.ttl(self.key))
                holder = Holder.from_json(raw)
                if holder is not None and holder.provably_dead():
                    replaced = await self.redis.eval(
                        _REPLACE, 1, self.key, raw, self.value, str(NODE_TTL_SECONDS)
                    )
                    if replaced:
                        log.info(
                            "node %r: its previous process (pid %d on this machine) is gone; "
                            "taking its name over",
                            self.node,
                            holder.pid,
                        )
                        return
                    continue
                raise self._taken(holder, ttl)
        except (RedisError, OSError) as exc:
            log.warning(
                "cannot check that no other node is called %r: Redis unavailable (%s)",
                self.node,
                exc,
            )
            return
        raise CloudBrainError(
            f"could not claim the node name {self.node!r}: other processes keep taking it",
            hint="give each node a name of its own: --node NAME (or CLOUDBRAIN_NODE)",
        )

    def _taken(self, holder: Holder | None, ttl: int) -> CloudBrainError:
        if holder is None:
            who = "a process of an older version"
        elif holder.machine == _machine():
            return CloudBrainError(
                f"another server node called {self.node!r} is running on this Redis: process "
                f"{holder.pid} on this machine",
                hint=f"stop process {holder.pid} first, or give each node a name of its own: "
                "--node NAME (or CLOUDBRAIN_NODE)",
            )
        else:
            who = f"process {holder.pid} on {holder.host}"
        wait = max(ttl, 0) or NODE_TTL_SECONDS
        return CloudBrainError(
            f"another server node called {self.node!r} is running on this Redis ({who}), or "
            f"was until less than {NODE_TTL_SECONDS}s ago",
            hint=f"give each node a name of its own: --node NAME (or CLOUDBRAIN_NODE); if that "
            f"node has stopped, its name is free in {wait}s, when its heartbeat expires",
        )

    async def renew(self) -> bool:
        """Say this node is alive for another :data:`NODE_TTL_SECONDS`. False when Redis had
        lost the registration (it restarted empty, or this process was paused past the TTL):
        then the node must register its sessions again."""
        async with self.redis.pipeline(transaction=True) as renewing:
            renewing.get(self.key)
            renewing.set(self.key, self.value, ex=NODE_TTL_SECONDS)
            before, _ = await renewing.execute()
        if before is not None and before != self.value.encode():
            log.error(
                "node %r: another process had taken this node's name (%s); two nodes of one "
                "name end each other's sessions: give each node a name of its own",
                self.node,
                before.decode(errors="replace"),
            )
        return before is not None

    async def release(self, *keys: str) -> None:
        """Give the name up (and delete ``keys`` with it), if this process still holds it."""
        await self.redis.eval(_RELEASE, 1 + len(keys), self.key, *keys, self.value)


def _machine() -> str:
    """Where a pid means one process: the host, this boot of it, and the pid namespace (a
    container's pid 7 is not its host's)."""
    boot = _read(Path("/proc/sys/kernel/random/boot_id"))
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}|{boot}|{namespace}"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (None where unknown)."""
    state = _process_state(pid)
    return None if state in (None, GONE, ZOMBIE) else state


def _process_state(pid: int) -> str | None:
    """Process ``pid``'s start time in clock ticks since boot, :data:`GONE`, or :data:`ZOMBIE`
    (ended, not reaped yet); None where there is no /proc to say."""
    if not Path("/proc/self/stat").exists():
        return None
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return GONE
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return ZOMBIE
    return fields[19]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
