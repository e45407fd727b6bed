# syntax=docker/dockerfile:1
# privacy-sensor image: the interceptor (DaemonSet, runs as root with the capabilities the chart
# grants) and the processor / map service (run as the non-root user 10001, the image default).
#
# BASE is a slim Debian 12 (bookworm). Offline builds (podman/buildah without a registry) pass
# a local image made by debootstrap: --build-arg BASE=localhost/debian-bookworm (see docs/deploy.md).
ARG BASE=debian:bookworm-slim

# ---- build: compile the wheels (pypcap needs libpcap-dev and a C compiler) -----------------------
FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Not pinned: bookworm's point and security releases replace exact versions (pins would break builds).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc libc6-dev libpcap-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY interceptor ./interceptor
COPY processor ./processor
# Offline builds: wheels made outside (pip wheel -w wheelhouse . setuptools wheel) in ./wheelhouse
# of the context are used with --no-index; without them, pip downloads from PyPI.
RUN --mount=type=bind,target=/ctx \
    if ls /ctx/wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /ctx/wheelhouse; fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel "$@" -w /wheels .
# The compiled hot path (README "Compiled core"): mypyc builds the modules of interceptor/compiled.py
# into /compiled/<hash of their sources>; the runtime's installed sources are the same bytes, so the
# runtime finds it. Optional: if it fails, the image runs pure Python (same records, slower).
COPY scripts/build_compiled.py ./scripts/
RUN --mount=type=bind,target=/ctx \
    if ls /ctx/wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /ctx/wheelhouse; fi \
 && mkdir -p /compiled \
 && /opt/build/bin/pip install "$@" "mypy==2.4.1" \
 && PRIVACY_SENSOR_COMPILED_DIR=/compiled /opt/build/bin/python scripts/build_compiled.py \
 || echo "compiled build failed: the image runs pure Python"

# ---- agent: the TLS source's Java agent jar (interceptor/tls/java: ByteBuddy advice, shaded) -------
# Built here as scripts/setup.d/java.sh builds it on a machine; only the jar goes to the runtime image
# (the JDK and Maven stay in this stage). The JVMs it is loaded into bring their own Java.
FROM ${BASE} AS agent
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY interceptor/tls/java ./
# Offline builds: a Maven repository holding ByteBuddy and the build's plugins in ./mavenrepo of the
# context (a copy of /var/cache/privacy-sensor/java/m2 after java.sh) is used with -o (offline);
# without it, Maven downloads from Maven Central.
RUN --mount=type=bind,target=/ctx \
    if [ -d /ctx/mavenrepo ]; then cp -r /ctx/mavenrepo /tmp/m2 && set -- -o; fi \
 && mvn -B -q "$@" -Dmaven.repo.local=/tmp/m2 package \
 && cp target/jtap.jar /jtap.jar \
 && rm -rf /tmp/m2 target

# ---- runtime ---------------------------------------------------------------------------------------
FROM ${BASE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# libpcap for the taps; python3-bpfcc (BCC, with libbpfcc) for the eBPF TLS uprobes; the kernel
# headers BCC compiles against come from the node (/usr/src, /lib/modules mounts in the chart).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv libpcap0.8 python3-bpfcc ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
COPY --from=build /compiled /usr/lib/privacy-sensor/compiled
# interceptor/tls/java.py loads this jar into JVMs when tls.java.enabled (java.IMAGE_JAR).
COPY --from=agent /jtap.jar /usr/share/privacy-sensor/jtap.jar
# --system-site-packages: the venv sees Debian's bcc module (python3-bpfcc is not on PyPI).
RUN python3 -m venv --system-site-packages /opt/sensor \
 && /opt/sensor/bin/pip install --no-index --find-links /wheels privacy-sensor \
 && rm -rf /wheels \
 && groupadd --gid 10001 sensor \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sensor \
 && mkdir -p /var/lib/privacy-sensor \
 && chown 10001:10001 /var/lib/privacy-sensor
ENV PATH=/opt/sensor/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PRIVACY_SENSOR_COMPILED_DIR=/usr/lib/privacy-sensor/compiled
USER 10001:10001
EXPOSE 18954 8080
# The interceptor's liveness endpoint (the chart uses its own probes per component).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:18954/healthz', timeout=4)"]
CMD ["interceptor", "--help"]
