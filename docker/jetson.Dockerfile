#
# A CloudBrain agent for an NVIDIA Jetson (JetPack 6, arm64), or any other agent machine.
#
#   sudo docker/base-image.sh                                          # on the Jetson: an arm64 base
#   docker build -f docker/jetson.Dockerfile -t cloudbrain-jetson .    # from the repo root
#   docker run -d --network host -v jetson:/data \
#       -e CLOUDBRAIN_URL=ws://SERVER:8766 -e CLOUDBRAIN_TOKEN=... cloudbrain-jetson
#
# The agent itself runs on the CPU (its recall uses onnxruntime's CPU build); the model runs in
# Ollama, which uses the GPU: run Ollama on the Jetson host (or in its own container with
# `--runtime nvidia`) and point the agent at it with OLLAMA_HOST (default
# http://127.0.0.1:11434, the host's with `--network host`). So the image needs no CUDA
# libraries, and its base is the same as the server's: docker/base-image.sh, run on the Jetson,
# makes it for arm64 from Debian's packages (Debian 12, Python 3.11). Any image whose `python3`
# is 3.11 with the venv module will do as well, e.g. the official one pinned by its digest:
#
#   docker build --build-arg BASE=python:3.11-slim-bookworm@sha256:<digest> -f docker/jetson.Dockerfile .
#
# The image runs `agent run jetson`: the agent is the identity "jetson". Another name is a
# different command:  docker run ... cloudbrain-jetson agent run NAME --device jetson
# Jetsons have no nvidia-smi, so announce the GPU for heavy asks with
# `--gpu "Jetson Orin Nano" --gpu-memory 8` on that command line.

ARG BASE=cloudbrain-base:bookworm-42380345ec28

# --- dependencies: those of the agent, in a venv, pip outside it (as in docker/Dockerfile) --
FROM ${BASE} AS dependencies
# PEM text of authorities this machine trusts beyond Debian's; this stage only (see Dockerfile).
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf '%s\n' "$EXTRA_CA_CERTS" >> /etc/ssl/certs/ca-certificates.crt; \
    fi
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/pip && python3 -m venv --without-pip /opt/cloudbrain
WORKDIR /src
# The dependencies first, so their layer stays cached until pyproject.toml changes.
COPY pyproject.toml docker/requirements.py ./
RUN /opt/pip/bin/python requirements.py agent > requirements.txt \
    && /opt/pip/bin/pip --python /opt/cloudbrain/bin/python install -r requirements.txt \
    && /opt/pip/bin/python requirements.py --build > build.txt && /opt/pip/bin/pip install -r build.txt
# CloudBrain itself goes to a folder of its own, which the venv reads through a .pth file: a
# change of the sources then makes a new small layer in the image, not a new copy of the venv.
RUN echo /opt/cloudbrain-package > "$(/opt/cloudbrain/bin/python -c \
        'import sysconfig; print(sysconfig.get_path("purelib"))')/cloudbrain-package.pth"

# --- package: CloudBrain built and installed next to its dependencies ------------------------
FROM dependencies AS package
COPY README.md ./
COPY cloudbrain cloudbrain
COPY server server
COPY agent agent
COPY directory directory
COPY maildir maildir
COPY familio familio
# Built with the build backend installed above, and installed without its dependencies (they
# are all there, which `pip check` proves): a change of the sources or README downloads nothing.
RUN /opt/pip/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheel . \
    && /opt/pip/bin/pip --python /opt/cloudbrain/bin/python install --no-deps \
        --target /opt/cloudbrain-package /tmp/wheel/*.whl \
    && /opt/pip/bin/pip --python /opt/cloudbrain/bin/python check \
    && /opt/cloudbrain-package/bin/cloudbrain --help > /dev/null

# --- runtime: the same base and Python, the venv, no sources, no pip ------------------------
FROM ${BASE}
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/cloudbrain \
        --shell /usr/sbin/nologin cloudbrain \
    && mkdir /data && chown cloudbrain:cloudbrain /data
# The venv with the dependencies (cached while pyproject.toml stays), then CloudBrain.
COPY --from=dependencies /opt/cloudbrain /opt/cloudbrain
COPY --from=package /opt/cloudbrain-package /opt/cloudbrain-package
ENV PATH=/opt/cloudbrain-package/bin:/opt/cloudbrain/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CLOUDBRAIN_HOME=/data \
    OLLAMA_HOST=http://127.0.0.1:11434
# The agent's local memory (it keeps learning while the server is away) and credentials.
VOLUME ["/data"]
WORKDIR /home/cloudbrain
USER 10001:10001
ENTRYPOINT ["cloudbrain"]
CMD ["agent", "run", "jetson", "--device", "jetson"]
