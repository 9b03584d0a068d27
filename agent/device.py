"""What this device can do, for the profile an agent announces (asks route heavy work by it)."""

from __future__ import annotations

import shutil
import subprocess

from cloudbrain.protocol import DeviceProfile


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
