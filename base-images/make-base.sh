#!/bin/sh
# Build the Debian bookworm base image locally and import it into podman.
#
# The default image (../Dockerfile) starts FROM "$BASE_IMAGE", which defaults to
# docker.io/library/debian:bookworm-slim. Where no registry is reachable, this
# script makes an equivalent minimal root file system with mmdebstrap and
# imports it under that same name, so `podman build --pull=never` resolves the
# FROM line locally and the Dockerfile stays unchanged.
#
# Usage: base-images/make-base.sh [IMAGE_NAME]        (run as root)
#   IMAGE_NAME  default: docker.io/library/debian:bookworm-slim
# Env:
#   DEBIAN_MIRROR   default: http://deb.debian.org/debian
#   SECURITY_MIRROR default: http://deb.debian.org/debian-security
#   FORCE=1         rebuild even if the image already exists
set -eu

IMAGE="${1:-docker.io/library/debian:bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
ENGINE="${CONTAINER_ENGINE:-podman}"

log() { printf 'make-base: %s\n' "$*" >&2; }

if [ "${FORCE:-0}" != 1 ] && "$ENGINE" image exists "$IMAGE" 2>/dev/null; then
    log "image $IMAGE already exists (FORCE=1 to rebuild)"
    exit 0
fi

command -v mmdebstrap >/dev/null || { log "mmdebstrap not found (apt-get install mmdebstrap)"; exit 1; }

workdir="$(mktemp -d "${TMPDIR:-/tmp}/make-base.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT INT TERM
tarball="$workdir/rootfs.tar"

# Like the official slim image: minbase variant, merged /usr set up by
# mmdebstrap's hook (installs only usr-is-merged, not usrmerge and perl), no
# docs, man pages or locales, empty apt lists.
hooks=/usr/share/mmdebstrap/hooks/merged-usr
[ -d "$hooks" ] || { log "$hooks not found (mmdebstrap >= 1.0 needed)"; exit 1; }
log "mmdebstrap --variant=minbase bookworm from $MIRROR"
# shellcheck disable=SC2016  # "$1" in the hook is expanded by mmdebstrap
mmdebstrap --variant=minbase --mode=root --format=tar \
    --hook-dir="$hooks" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --aptopt='Acquire::Languages "none"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
    bookworm "$tarball" \
    "deb $MIRROR bookworm main" \
    "deb $MIRROR bookworm-updates main" \
    "deb $SECURITY bookworm-security main"

log "importing $tarball as $IMAGE"
"$ENGINE" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debian bookworm minbase made locally by base-images/make-base.sh" \
    "$tarball" "$IMAGE"
"$ENGINE" image ls "$IMAGE"
