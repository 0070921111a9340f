#ifndef NESTBOX_VOLUMES_H
#define NESTBOX_VOLUMES_H

#include <stddef.h>

/* Mount a container's extra mounts (RUN's MOUNT fields) on top of its root at NEWROOT, after
 * rootfs_mount and before its process starts. Each spec is
 *   "blk\t<disk serial>\t<target>\tro|rw\t"          an ext4 volume disk (virtio-blk)
 *   "9p\t<mount tag>\t<target>\tro|rw\t"             a host directory (virtio-9p)
 *   "tmpfs\t\t<target>\tro|rw\t<size=…,mode=…>"       a tmpfs
 * Targets are created inside the container root without following any symlink the image put
 * there. Returns 0, or -errno with a message naming the mount. */
int volumes_mount(char *const *specs, size_t n, char *msg, size_t size);

/* Check one spec without mounting (the unit tests use it). Returns 0 or -EINVAL with `why`. */
int volume_spec_check(const char *spec, const char **why);

#endif
