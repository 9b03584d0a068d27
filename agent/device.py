"""This device as an agent sees it: where the agent keeps its files here, and what the device
can do, for the profile an agent announces (asks route heavy work by it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from cloudbrain.errors import CloudBrainError
from cloudbrain.files import safe_name
from cloudbrain.protocol import AgentName, DeviceProfile, ShortText

_agent_name: TypeAdapter[str] = TypeAdapter(AgentName)
_device_name: TypeAdapter[str] = TypeAdapter(ShortText)


class BadPlace(CloudBrainError):
    """An agent or device name that cannot name this device's folder."""


def device_folder(home: Path, agent: str, device: str) -> Path:
    """Where ``agent`` keeps its files on ``device``: ``home/agents/AGENT/DEVICE``.

    Both names come from the command line (or the credentials file), so each is checked (an
    agent name as the protocol defines it, a device as one line of up to 128 characters) and
    escaped into a single path component, never joined raw: ``..`` or ``/etc`` become
    ``%2E.`` and ``%2Fetc``. The folder is then checked to lie under ``home`` (which a symlink
    inside it could otherwise defeat). Nothing is created here.
    """
    try:
        _agent_name.validate_python(agent)
    except ValidationError:
        raise BadPlace(
            f"{agent!r} is not a valid agent name",
            hint="agent names are 1 to 64 characters without spaces, not starting with '*': "
            "use the name given to `cloudbrain agent create`",
        ) from None
    try:
        _device_name.validate_python(device)
        if not device.strip():
            raise ValueError("empty")
    except (ValidationError, ValueError):
        raise BadPlace(
            f"{device!r} is not a valid device name",
            hint="pass --device NAME with one line of 1 to 128 characters, e.g. --device laptop",
        ) from None
    root = home.resolve()
    folder = root / "agents" / safe_name(agent) / safe_name(device)
    if not folder.resolve().is_relative_to(root):
        raise BadPlace(
            f"the folder of {agent!r} on {device!r} ({folder}) leads outside {root}",
            hint=f"a symlink under {root / 'agents'} points elsewhere: remove it, or pick "
            "another --home",
        )
    return folder


def detect_gpu() -> tuple[str | None, float | None]:
    """The first NVIDIA GPU's name and memory in GB, from nvidia-smi; (None, None) without
    one. (Jetson boards share memory with the CPU and have no nvidia-smi: pass --gpu.)"""
    if shutil.which("nvidia-smi") is None:
        return None, None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        name, memory_mib = out.splitlines()[0].rsplit(",", 1)
        return name.strip(), round(float(memory_mib) / 1024, 1)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None, None


def device_profile(
    models: list[str], gpu: str | None = None, gpu_memory_gb: float | None = None
) -> DeviceProfile:
    """The profile to announce: the GPU given, else the one found, and the models used."""
    if gpu is None and gpu_memory_gb is None:
        gpu, gpu_memory_gb = detect_gpu()
    return DeviceProfile(gpu=gpu, gpu_memory_gb=gpu_memory_gb, models=models)
