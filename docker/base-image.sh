#!/usr/bin/env bash
# The base of CloudBrain's images, made from Debian's packages alone: no image registry.
#
#   sudo docker/base-image.sh            # or `sudo make base-image`: builds the image
#                                        # cloudbrain-base:bookworm-<recipe> unless the engine
#                                        # has it; prints the tag on its last line
#   docker/base-image.sh --tag           # only prints the tag docker/Dockerfile expects
#   sudo docker/base-image.sh --force    # builds it again (security updates)
#
# Debian 12 (bookworm), minbase, with python3 (3.11) and python3-venv, made by debootstrap
# into a folder and imported into the local engine with `docker import`. The tag ends with a
# hash of this file, so a changed recipe is a new tag; docker/Dockerfile's `ARG BASE` names it
# (a test checks they agree). It needs root (debootstrap chroots), debootstrap and a Debian
# mirror: CLOUDBRAIN_DEBIAN_MIRROR, http://deb.debian.org/debian by default. A few minutes
# the first time; instant when the tag is there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$here/base-image.sh" | cut -c1-12)
suite=bookworm
tag="cloudbrain-base:$suite-$recipe"
mirror=${CLOUDBRAIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${CLOUDBRAIN_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

force=
case "${1:-}" in
    --tag) echo "$tag"; exit 0 ;;
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--tag | --force]" >&2; exit 2 ;;
esac

step() { echo "base-image: $*"; }
fail() { echo "base-image: $*" >&2; exit 1; }

docker version --format '{{.Server.Version}}' > /dev/null 2>&1 \
    || fail "no Docker engine answers: start one (dockerd), then run this again"
if [ -z "$force" ] && docker image inspect "$tag" > /dev/null 2>&1; then
    step "$tag is there already (--force builds it again)"
    echo "$tag"
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "debootstrap needs root: sudo $0"
command -v debootstrap > /dev/null || fail "debootstrap is missing: apt-get install debootstrap"

# On the same disk as /var/lib/docker, not in a tmpfs: the tree is ~150 MB.
root=$(mktemp -d /var/tmp/cloudbrain-base.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM
started=$(date +%s)

step "1/4 debootstrap --variant=minbase $suite from $mirror (a few minutes)"
# python3-venv brings ensurepip, which the images' build stage makes its venv with.
debootstrap --variant=minbase --include=python3,python3-venv \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$suite" "$root" "$mirror" 2>&1 | { grep --line-buffered -E '^[EW]:|^I: (Retrieving|Valid|Extracting base|Installing core|Configuring|Base)' || true; }

step "2/4 security updates"
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 update -q && apt-get -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 upgrade -y -q' 2>&1 \
    | { grep --line-buffered -E '^(E:|W:|Setting up|Fetched|[0-9]+ upgraded)' || true; }

step "3/4 trimming: no package lists, caches, docs or man pages"
# Later `apt-get install`s in images stay as small (as Debian's own slim images do).
cat > "$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
# Services never start from an apt-get in a container.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/tmp/* "$root"/debootstrap
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
# The engine mounts its own; the build machine's have no place in the image.
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"

step "4/4 docker import as $tag"
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $suite, python3, python3-venv ($here/base-image.sh)" \
    - "$tag" > /dev/null
step "done in $(( $(date +%s) - started )) s: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')"
echo "$tag"
