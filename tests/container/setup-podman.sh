#!/bin/bash
# Prepare a Debian 12 machine (as root) for tests/container: install podman and
# runc, configure podman for this environment, and make the Debian base image
# the Dockerfile starts FROM. Idempotent: each step says what it does or why it
# is skipped. Used by CI before `pytest tests/container`.
#
# Usage: sudo tests/container/setup-podman.sh
# Env:
#   CONTAINERS_CONF  default /etc/containers/containers.conf
#   BASE_IMAGE       default docker.io/library/debian:bookworm-slim
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
conf="${CONTAINERS_CONF:-/etc/containers/containers.conf}"
base_image="${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}"

say() { printf 'setup-podman: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    say "must run as root (rootful podman, mmdebstrap)"
    exit 1
fi

# --- packages ---------------------------------------------------------------
# runc satisfies podman's "crun | runc" (crun fails on this cgroup layout);
# netavark only for containers not on the host network (the tests use the host's).
packages="podman runc netavark mmdebstrap ca-certificates"
missing=""
for pkg in $packages; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    say "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086  # word splitting intended
    apt-get install -y -q --no-install-recommends $missing
else
    say "packages already installed: $packages"
fi

# --- containers.conf ----------------------------------------------------------
# runc: crun fails on this machine's cgroup layout. default_ulimits: podman's
# defaults (nofile 1048576) exceed the hard limits of the sandbox, which makes
# every container fail to start; lower them to what this shell may have.
hard_nofile="$(ulimit -Hn)"
case "$hard_nofile" in unlimited) hard_nofile=1048576 ;; esac
[ "$hard_nofile" -gt 1048576 ] && hard_nofile=1048576
hard_nproc="$(ulimit -Hu)"
case "$hard_nproc" in unlimited) hard_nproc=32768 ;; esac
[ "$hard_nproc" -gt 32768 ] && hard_nproc=32768

wanted="$(cat <<EOF
# Written by tests/container/setup-podman.sh
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=${hard_nproc}:${hard_nproc}"]

[engine]
runtime = "runc"
EOF
)"
if [ -f "$conf" ] && [ "$(cat "$conf")" = "$wanted" ]; then
    say "$conf already up to date"
else
    if [ -f "$conf" ] && ! grep -q 'Written by tests/container/setup-podman.sh' "$conf"; then
        say "keeping the previous $conf as $conf.orig"
        cp -p "$conf" "$conf.orig"
    fi
    say "writing $conf (runtime runc, nofile=$hard_nofile, nproc=$hard_nproc)"
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$wanted" > "$conf"
fi

# --- smoke test ------------------------------------------------------------------
say "podman: $(podman --version), runtime: $(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || echo '?')"

# --- base image -----------------------------------------------------------------
if podman image exists "$base_image"; then
    say "base image $base_image already present"
else
    say "making base image $base_image with mmdebstrap (about 30 s)"
    "$repo/base-images/make-base.sh" "$base_image"
fi

if podman run --rm --network host --pull=never "$base_image" true; then
    say "podman runs containers from $base_image: ready"
else
    say "podman cannot run a container from $base_image"
    exit 1
fi
