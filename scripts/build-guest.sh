#!/bin/bash
# Build the nestbox guest: kernel (uncompressed vmlinux from Debian's linux-image package),
# initramfs (the agent as /init + the modules it loads) and the benchmark floor.
#
#   scripts/build-guest.sh            -> build/guest/{vmlinux,initramfs.cpio,floor.cpio,agent,nestbox-shim,nestbox-vmm-exec,nestbox-runtime-shim,guest.json}
#   NESTBOX_GUEST_DIR=/x scripts/build-guest.sh
#
# Idempotent and fast on rebuild: the kernel package is cached in /var/cache/nestbox and the
# extracted kernel + modules are reused while the package file is unchanged.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${NESTBOX_GUEST_DIR:-$REPO/build/guest}
CACHE=${NESTBOX_CACHE_DIR:-/var/cache/nestbox}
PROTOCOL_VERSION=1

# Modules the agent loads, in this order; their dependencies are added in front of them.
# crc32c_generic serves the crypto-crc32c soft dependency of ext4/jbd2/libcrc32c (there is no
# modprobe in the guest to resolve it on demand).
MODULES="virtio_ring virtio virtio_mmio virtio_blk virtio_console virtio-rng
crc32c_generic crc16 mbcache jbd2 ext4 libcrc32c erofs overlay
failover net_failover virtio_net vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
# Loaded only when a container shares a host directory (virtio-9p): lib/modules/order-9p.
MODULES_9P="9pnet_virtio 9p"

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_tools() {
	local missing=
	command -v musl-gcc >/dev/null || missing="$missing musl-tools"
	command -v make >/dev/null || missing="$missing make"
	command -v xz >/dev/null || missing="$missing xz-utils"
	command -v cpio >/dev/null || missing="$missing cpio"
	command -v gcc >/dev/null || missing="$missing gcc"
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (install them, or run as root)"
	log "installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
}

# The kernel ABI Debian's linux-image-amd64 points at, e.g. 6.1.0-56-amd64.
kernel_release() {
	local rel
	if [ -n "${NESTBOX_KERNEL:-}" ]; then echo "$NESTBOX_KERNEL"; return; fi
	rel=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1)
	if [ -z "$rel" ]; then
		# offline: fall back to the newest package already cached
		rel=$(ls "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | sed 's|.*/linux-image-||; s|_.*||' |
			sort -V | tail -n1)
	fi
	[ -n "$rel" ] || die "cannot resolve the kernel version (apt-cache depends linux-image-amd64)"
	echo "$rel"
}

# Path of the cached .deb for $1, downloading it when absent.
kernel_deb() {
	local pkg deb
	pkg=linux-image-$1
	deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg"
		(cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			die "apt-get download $pkg failed (run apt-get update?)"
		deb=$(ls "$CACHE/${pkg}"_*.deb | sort -V | tail -n1)
	fi
	echo "$deb"
}

# Decompress the XZ payload of a bzImage into an ELF vmlinux.
extract_vmlinux() {
	local off
	for off in $(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$1" | cut -d: -f1); do
		# tail dies of SIGPIPE once xz has its stream: only xz's status counts
		if (set +o pipefail; tail -c +"$((off + 1))" "$1" | xz -dc --single-stream >"$2.tmp") 2>/dev/null &&
			[ "$(head -c 4 "$2.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			mv "$2.tmp" "$2"
			return 0
		fi
	done
	rm -f "$2.tmp"
	die "no XZ-compressed ELF kernel found in $1"
}

# Field $2 (depends, ...) of module file $1.
modinfo_field() {
	tr '\0' '\n' <"$1" | sed -n "s/^$2=//p" | head -n1
}

# Resolve MODULES with their dependencies (depth first, dependencies first) into dir $2 from the
# unpacked package $1; writes $2/order.
collect_modules() {
	local tree m
	tree=$1/lib/modules/$REL/kernel
	find "$tree" -name '*.ko' >"$2/.all"
	: >"$2/order"
	: >"$2/order-9p"
	for m in $MODULES; do add_module "$m" "$2" order; done
	for m in $MODULES_9P; do add_module "$m" "$2" order-9p; done
	rm -f "$2/.all"
}

add_module() {
	local name file dep
	name=$(echo "$1" | tr - _)
	grep -qx "$name" "$2/.seen" 2>/dev/null && return 0
	echo "$name" >>"$2/.seen"
	file=$(awk -v n="$name" '{ f = $0; sub(".*/", "", f); sub("\\.ko$", "", f); gsub("-", "_", f); if (f == n) { print; exit } }' "$2/.all")
	[ -n "$file" ] || die "module $1 not found in $REL"
	for dep in $(modinfo_field "$file" depends | tr , ' '); do
		add_module "$dep" "$2" "$3"
	done
	cp "$file" "$2/"
	basename "$file" >>"$2/$3"
}

# Kernel and modules, cached per package file.
prepare_kernel() {
	local deb stamp kdir
	deb=$(kernel_deb "$REL")
	KERNEL_PACKAGE=$(dpkg-deb -f "$deb" Package)_$(dpkg-deb -f "$deb" Version)
	stamp="$KERNEL_PACKAGE $(echo "$MODULES" | tr '\n' ' ') 9p: $MODULES_9P"
	kdir=$CACHE/$REL
	if [ -f "$kdir/stamp" ] && [ "$(cat "$kdir/stamp")" = "$stamp" ] &&
		[ -f "$kdir/vmlinux" ] && [ -f "$kdir/modules/order" ] && [ -f "$kdir/modules/order-9p" ]; then
		return 0
	fi
	log "extracting $KERNEL_PACKAGE"
	rm -rf "$kdir" "$kdir.tmp"
	mkdir -p "$kdir.tmp/pkg" "$kdir.tmp/modules"
	dpkg-deb -x "$deb" "$kdir.tmp/pkg"
	extract_vmlinux "$kdir.tmp/pkg/boot/vmlinuz-$REL" "$kdir.tmp/vmlinux"
	collect_modules "$kdir.tmp/pkg" "$kdir.tmp/modules"
	rm -f "$kdir.tmp/modules/.seen"
	rm -rf "$kdir.tmp/pkg"
	echo "$stamp" >"$kdir.tmp/stamp"
	mv "$kdir.tmp" "$kdir"
}

# newc cpio of directory $1 into file $2, reproducible (fixed owner and times).
make_cpio() {
	find "$1" -exec touch -h -d @0 {} +
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$2.tmp"
	mv "$2.tmp" "$2"
}

build_initramfs() {
	local stage
	stage=$OUT/.stage
	rm -rf "$stage"
	mkdir -p "$stage/lib/modules" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/run" \
		"$stage/newroot" "$stage/tmp"
	cp "$OUT/agent" "$stage/init"
	cp "$CACHE/$REL/modules/"*.ko "$CACHE/$REL/modules/order" "$CACHE/$REL/modules/order-9p" "$stage/lib/modules/"
	make_cpio "$stage" "$OUT/initramfs.cpio"
	rm -rf "$stage"
	mkdir -p "$stage"
	cp "$OUT/floor" "$stage/init"
	make_cpio "$stage" "$OUT/floor.cpio"
	rm -rf "$stage"
}

main() {
	need_tools
	mkdir -p "$CACHE" "$OUT"
	REL=$(kernel_release)
	prepare_kernel
	make -s -C "$REPO/guest-agent" agent floor >&2
	AGENT_VERSION=$(make -s -C "$REPO/guest-agent" print-version)
	cp "$REPO/guest-agent/agent" "$OUT/agent.tmp" && mv "$OUT/agent.tmp" "$OUT/agent"
	cp "$REPO/guest-agent/floor" "$OUT/floor.tmp" && mv "$OUT/floor.tmp" "$OUT/floor"
	# the runc shim (process isolation) speaks the same protocol on the host side
	make -s -C "$REPO/shim" >&2
	cp "$REPO/shim/nestbox-shim" "$OUT/nestbox-shim.tmp" && mv "$OUT/nestbox-shim.tmp" "$OUT/nestbox-shim"
	cp "$REPO/shim/nestbox-vmm-exec" "$OUT/nestbox-vmm-exec.tmp" && mv "$OUT/nestbox-vmm-exec.tmp" "$OUT/nestbox-vmm-exec"
	# the waiter of nestbox-runtime (the OCI runtime CLI) for VM containers and exec sessions
	make -s -C "$REPO/runtime-shim" >&2
	cp "$REPO/runtime-shim/nestbox-runtime-shim" "$OUT/nestbox-runtime-shim.tmp" && mv "$OUT/nestbox-runtime-shim.tmp" "$OUT/nestbox-runtime-shim"
	if ! cmp -s "$CACHE/$REL/vmlinux" "$OUT/vmlinux" 2>/dev/null; then
		cp "$CACHE/$REL/vmlinux" "$OUT/vmlinux.tmp" && mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
	fi
	build_initramfs
	cat >"$OUT/guest.json.tmp" <<EOF
{
  "kernelRelease": "$REL",
  "kernelPackage": "$KERNEL_PACKAGE",
  "agentVersion": "$AGENT_VERSION",
  "protocolVersion": $PROTOCOL_VERSION,
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
	mv "$OUT/guest.json.tmp" "$OUT/guest.json"
	log "guest in $OUT (kernel $REL, agent $AGENT_VERSION)"
}

main "$@"
