# scorehost default image: Debian bookworm slim, Python 3.11 (Debian's), scorehost
# in a virtual environment, Azure ML's directory layout, non-root user.
#
#   podman build --format docker --network host -t scorehost .
#   podman run --rm -p 127.0.0.1:5001:5001 \
#       -v ./model:/var/azureml-app/azureml-models/mymodel/1:ro \
#       -v ./score.py:/var/azureml-app/score.py:ro \
#       -e AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/mymodel/1 scorehost
#
# Build options:
#   --build-arg BASE_IMAGE=...     another Debian bookworm based image
#                                  (base-images/make-base.sh makes one locally)
#   --build-arg PIP_INDEX_URL=...  a package index other than PyPI
#                                  (also PIP_EXTRA_INDEX_URL)
#   --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt
#                                  CA bundle for pip behind a TLS-inspecting proxy;
#                                  used only for the build, never stored in a layer
#   --format docker                (podman/buildah) keeps HEALTHCHECK, which the
#                                  OCI image format has no field for
#   --target minimal               the image without pip, setuptools and CA certificates
#                                  (scorehost-minimal, see base-images/README.md)

ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------------------
# build: a virtual environment with scorehost and its dependencies
# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*

ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python3 -m venv /opt/scorehost/venv

COPY . /src
# An empty index build-arg means "not given": pip keeps its own default.
RUN --mount=type=secret,id=cacert \
    [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; \
    [ -n "$PIP_EXTRA_INDEX_URL" ] || unset PIP_EXTRA_INDEX_URL; \
    if [ -s /run/secrets/cacert ]; then \
        export PIP_CERT=/run/secrets/cacert REQUESTS_CA_BUNDLE=/run/secrets/cacert; \
    fi; \
    /opt/scorehost/venv/bin/pip install /src \
 && /opt/scorehost/venv/bin/scorehost --help >/dev/null \
 && chmod -R g=u /opt/scorehost

# ---------------------------------------------------------------------------
# build-minimal: the same environment without a package installer
# ---------------------------------------------------------------------------
FROM build AS build-minimal

RUN /opt/scorehost/venv/bin/python -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null; \
    rm -f /opt/scorehost/venv/bin/pip*; \
    ! /opt/scorehost/venv/bin/python -c "import pip" 2>/dev/null

# ---------------------------------------------------------------------------
# runtime: what every image shares (Python, user, layout, environment, probe,
# entry point); the two stages below add the environment to it
# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.licenses="MIT"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

# uid 1000 in group 0; every file the server or a derived image writes is owned
# by group 0 and group-writable, so an arbitrary UID in group 0 works as well
# (OpenShift's restricted policy).
RUN useradd --uid 1000 --gid 0 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin scorehost \
 && mkdir -p /var/azureml-app/azureml-models \
 && chown -R 1000:0 /var/azureml-app \
 && chmod -R g=u /var/azureml-app

# HOME and every cache live under /tmp: with `--read-only --tmpfs /tmp` nothing
# else needs to be writable.
ENV PATH=/opt/scorehost/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/scorehost/venv \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/.cache/matplotlib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    AML_APP_ROOT=/var/azureml-app \
    AZUREML_ENTRY_SCRIPT=score.py \
    AZUREML_MODEL_DIR=/var/azureml-app/azureml-models \
    SERVER_PORT=5001

WORKDIR /var/azureml-app
EXPOSE 5001

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('SERVER_PORT', '5001'), timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["scorehost", "serve"]

# ---------------------------------------------------------------------------
# minimal (--target minimal): no pip, setuptools or CA bundle, for production
# images whose dependencies are fixed at build time (base-images/README.md).
# AZUREML_EXTRA_REQUIREMENTS_TXT does not work here: the server exits 3 saying so.
# ---------------------------------------------------------------------------
FROM runtime AS minimal

LABEL org.opencontainers.image.title="scorehost-minimal" \
      org.opencontainers.image.description="scorehost without a package installer"

COPY --from=build-minimal --chown=1000:0 /opt/scorehost /opt/scorehost
USER 1000:0

# ---------------------------------------------------------------------------
# default (the last stage: what a build without --target makes)
# ---------------------------------------------------------------------------
FROM runtime

LABEL org.opencontainers.image.title="scorehost" \
      org.opencontainers.image.description="Scoring server for Azure ML style entry scripts (init()/run()), drop-in for azmlinfsrv"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

# Group-writable (chmod in the build stage), so derived images and arbitrary UIDs
# can pip-install into the environment.
COPY --from=build --chown=1000:0 /opt/scorehost /opt/scorehost
USER 1000:0
