/* The container's root: the image's unpacked rootfs (read-only) under the container's writable
 * layer, an overlay on BUNDLE/rootfs. Mounted here rather than by the host with mount(8): the
 * engine would otherwise fork twice per run (mount, then umount) on the start-up path. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "shim.h"
#include "util.h"

/* Is `dir` a mount point (another device than its parent)? */
static int mounted(const char *dir)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	if (fmt(parent, sizeof(parent), "%s/..", dir) || stat(dir, &a) || stat(parent, &b))
		return 0;
	return a.st_dev != b.st_dev;
}

int rootfs_mount(struct shim *sh)
{
	char target[PATH_MAX], opts[3 * PATH_MAX + 64];

	if (!sh->lower)
		return 0;
	if (strpbrk(sh->lower, ",:") || strpbrk(sh->dir, ",:")) {
		say("overlay: `%s` or `%s` holds a ',' or ':', which overlay options cannot carry", sh->lower, sh->dir);
		return -EINVAL;
	}
	if (fmt(target, sizeof(target), "%s/rootfs", sh->bundle) ||
	    fmt(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", sh->lower, sh->dir, sh->dir))
		return -ENAMETOOLONG;
	/* a start after a shim that was killed finds its overlay still there, and takes it over */
	if (!mounted(target) && mount("overlay", target, "overlay", 0, opts)) {
		int err = errno;
		say("mount overlay on `%s` (%s): %s", target, opts, strerror(err));
		return -err;
	}
	sh->rootfs_mounted = 1;
	return 0;
}

void rootfs_unmount(struct shim *sh)
{
	char target[PATH_MAX];

	if (!sh->rootfs_mounted || fmt(target, sizeof(target), "%s/rootfs", sh->bundle))
		return;
	if (umount2(target, 0) && umount2(target, MNT_DETACH))
		say("umount `%s`: %s", target, strerror(errno));
}
