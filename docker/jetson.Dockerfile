# syntax=docker/dockerfile:1
#
# A CloudBrain agent for an NVIDIA Jetson (JetPack 6 = L4T r36, Ubuntu 22.04, arm64).
#
#   docker build -f docker/jetson.Dockerfile -t cloudbrain-jetson .    # from the repo root
#   docker run -d --network host -v jetson:/data \
#       -e CLOUDBRAIN_URL=ws://SERVER:8766 -e CLOUDBRAIN_TOKEN=... cloudbrain-jetson
#
# The agent itself runs on the CPU; the model runs in Ollama, which uses the GPU: run Ollama
# on the Jetson host (or in its own container with `--runtime nvidia`) and point the agent at
# it with OLLAMA_HOST (default http://127.0.0.1:11434, the host's with `--network host`).
#
# The image runs `agent run jetson`: the agent is the identity "jetson". Another name is a
# different command:  docker run ... cloudbrain-jetson agent run NAME --device jetson
# Jetsons have no nvidia-smi, so announce the GPU for heavy asks with
# `--gpu "Jetson Orin Nano" --gpu-memory 8` on that command line.

ARG L4T_TAG=r36.2.0

# --- builder: CloudBrain in a venv on Ubuntu's Python 3.11 (the system python3 is 3.10) ----
FROM nvcr.io/nvidia/l4t-base:${L4T_TAG} AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/cloudbrain && /opt/cloudbrain/bin/pip install --upgrade pip
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cloudbrain cloudbrain
COPY server server
COPY agent agent
COPY directory directory
COPY maildir maildir
COPY familio familio
RUN /opt/cloudbrain/bin/pip install '.[agent]' \
    && /opt/cloudbrain/bin/cloudbrain --help > /dev/null

# --- runtime: the same base and Python, the venv, no sources --------------------------------
FROM nvcr.io/nvidia/l4t-base:${L4T_TAG}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/cloudbrain \
        --shell /usr/sbin/nologin cloudbrain \
    && mkdir /data && chown cloudbrain:cloudbrain /data
COPY --from=builder /opt/cloudbrain /opt/cloudbrain
ENV PATH=/opt/cloudbrain/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CLOUDBRAIN_HOME=/data \
    OLLAMA_HOST=http://127.0.0.1:11434
# The agent's local memory (it keeps learning while the server is away) and credentials.
VOLUME ["/data"]
WORKDIR /home/cloudbrain
USER 10001:10001
ENTRYPOINT ["cloudbrain"]
CMD ["agent", "run", "jetson", "--device", "jetson"]
