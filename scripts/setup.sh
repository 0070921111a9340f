#!/usr/bin/env bash
# nestbox set-up on a fresh Debian 12 / Ubuntu machine (run as root, or it uses sudo):
# apt packages, the guest kernel (Debian's linux-image, unpacked, never installed into /boot),
# the guest agent and initramfs, npm packages, the CLI bundle and the default busybox image.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
log() { printf 'setup: %s\n' "$*" >&2; }

# qemu-system-x86: the VMM; runc: process isolation; busybox-static: the default image;
# musl-tools/gcc/make/cpio/xz-utils: guest agent + initramfs; erofs-utils/e2fsprogs: rootfs and
# writable-layer disks; zstd: zstd-compressed layers; skopeo/podman/docker-registry/apache2-utils
# (htpasswd)/openssl: registry, interop tests and benchmarks; containerd: nestbox-runtime's tests.
PACKAGES="qemu-system-x86 runc busybox-static dnsmasq-base nftables musl-tools gcc make cpio xz-utils erofs-utils e2fsprogs
zstd skopeo podman docker-registry apache2-utils openssl ca-certificates iproute2 containerd"
missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing:$missing"
	$SUDO apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	# Debian starts docker-registry as a service on :5000 (all interfaces); the tests start their
	# own on loopback, so do not leave one running that we installed.
	case "$missing" in *docker-registry*)
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			$SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
		fi ;;
	esac
fi

log "npm packages"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

log "guest kernel, agent and initramfs"
$SUDO bash scripts/build-guest.sh

log "default image (busybox from Debian's busybox-static)"
mkdir -p build/images
node --import tsx scripts/build-default-image.ts build/images/busybox.oci.tar

# after the image: the build trains the CLI's code cache with a process-isolated run of it
log "CLI bundle"
npm run build --silent

log "done: try  bin/nestbox run --rm busybox echo hello"
