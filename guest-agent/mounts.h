#ifndef NESTBOX_MOUNTS_H
#define NESTBOX_MOUNTS_H

#include <stddef.h>

#define NEWROOT "/newroot"

/* /proc, /sys, /dev (devtmpfs) for the agent itself; stdio to /dev/console. */
int mount_early(void);

/* Find the block device whose virtio serial is `serial`, waiting up to timeout_ms; writes
 * "/dev/vdX" to dev. Returns 0 or -ENODEV. */
int disk_find(const char *serial, char *dev, size_t size, unsigned timeout_ms);

/* Mount the container root at NEWROOT (overlay of the image under the rw disk, or the image
 * read-only) with /proc, /sys, /dev, /dev/pts, /dev/shm inside, and the identity files bind-mounted
 * over /etc/hostname, /etc/hosts (plus the hosts_extra lines), /etc/resolv.conf and
 * /etc/machine-id (the image's own when resolv or machine_id is empty). On failure returns -errno
 * and a message naming the operation. */
int rootfs_mount(int readonly, const char *hostname, const char *machine_id, const char *hosts_extra,
		 const char *resolv, char *msg, size_t msgsize);

/* Rewrite the identity files of the mounted root, as rootfs_mount wrote them. Returns 0 or -errno
 * with msg naming the file. */
int rootfs_identity(const char *hostname, const char *machine_id, const char *hosts_extra, const char *resolv,
		    char *msg, size_t size);

/* The content of /etc/hosts: localhost, the hostname, then the hosts_extra lines. */
void hosts_file(char *hosts, size_t size, const char *hostname, const char *hosts_extra);

/* Rewrite one identity file ("hostname", "hosts", "resolv.conf", "machine-id") of the mounted
 * root in place (it is bind-mounted). Returns 0 or -errno. */
int identity_set(const char *name, const char *content);

/* Sync and unmount everything below and at NEWROOT and the disks. */
void rootfs_unmount(void);

/* Bring the loopback interface up. */
int loopback_up(void);

#endif
