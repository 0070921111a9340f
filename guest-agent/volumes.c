/* Volumes, host directories and tmpfs mounts of a container (docs/guest-protocol.md, MOUNT). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modules.h"
#include "mounts.h"
#include "util.h"
#include "volumes.h"

#define FIELDS 5
#define MAX_SPEC 1024

struct spec {
	char buf[MAX_SPEC];
	char *f[FIELDS]; /* kind, source, target, mode, options */
};

static int all_in(const char *s, const char *set)
{
	for (; *s; s++)
		if (!strchr(set, *s))
			return 0;
	return 1;
}

static int parse(const char *text, struct spec *sp, const char **why)
{
	char *p;
	int i;

	*why = "too long";
	if (strlen(text) >= sizeof(sp->buf))
		return -EINVAL;
	strcpy(sp->buf, text);
	p = sp->buf;
	for (i = 0; i < FIELDS; i++) {
		sp->f[i] = p;
		p = strchr(p, '\t');
		if (i < FIELDS - 1) {
			*why = "want 5 tab-separated fields";
			if (!p)
				return -EINVAL;
			*p++ = 0;
		}
	}
	*why = "more than 5 fields";
	if (p)
		return -EINVAL;
	*why = "unknown kind (want blk, 9p or tmpfs)";
	if (strcmp(sp->f[0], "blk") && strcmp(sp->f[0], "9p") && strcmp(sp->f[0], "tmpfs"))
		return -EINVAL;
	*why = "bad source (want 1 to 31 of [A-Za-z0-9_-])";
	if (strcmp(sp->f[0], "tmpfs") &&
	    (!*sp->f[1] || strlen(sp->f[1]) > 31 ||
	     !all_in(sp->f[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")))
		return -EINVAL;
	*why = "bad target (want an absolute path without `..`)";
	if (sp->f[2][0] != '/' || !strcmp(sp->f[2], "/") || strlen(sp->f[2]) > 512 || strstr(sp->f[2], "/../") ||
	    (strlen(sp->f[2]) >= 3 && !strcmp(sp->f[2] + strlen(sp->f[2]) - 3, "/..")))
		return -EINVAL;
	*why = "bad mode (want ro or rw)";
	if (strcmp(sp->f[3], "ro") && strcmp(sp->f[3], "rw"))
		return -EINVAL;
	*why = "bad options (only size= and mode= for tmpfs)";
	if (!all_in(sp->f[4], "abcdefghijklmnopqrstuvwxyz0123456789=,") ||
	    (strcmp(sp->f[0], "tmpfs") && *sp->f[4]))
		return -EINVAL;
	return 0;
}

int volume_spec_check(const char *spec, const char **why)
{
	struct spec sp;

	return parse(spec, &sp, why);
}

/* Open (creating as needed) `target` below NEWROOT, one component at a time, never following a
 * symlink: an image cannot redirect a mount outside the container root. Returns an O_PATH fd. */
static int open_target(const char *target, char *msg, size_t size)
{
	char path[MAX_SPEC], *comp, *save = NULL;
	int dir, next;

	dir = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		snprintf(msg, size, "mount %s: open the container root: %s", target, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s", target);
	for (comp = strtok_r(path, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, "."))
			continue;
		next = openat(dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(dir, comp, 0755) && errno != EEXIST) {
				int err = errno;

				snprintf(msg, size, "mount %s: create the mount point: %s%s", target, strerror(err),
					 err == EROFS ? " (the root file system is read-only and the image lacks it)" : "");
				close(dir);
				return -err;
			}
			next = openat(dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int err = errno;

			snprintf(msg, size, "mount %s: `%s` in the image is %s", target, comp,
				 err == ELOOP || err == ENOTDIR ? "a symlink or not a directory" : strerror(err));
			close(dir);
			return -err;
		}
		close(dir);
		dir = next;
	}
	return dir;
}

static int mount_one(const struct spec *sp, char *msg, size_t size)
{
	static int have_9p;
	char at[64], dev[64];
	unsigned long flags = strcmp(sp->f[3], "ro") ? 0 : MS_RDONLY;
	int fd, err = 0;

	fd = open_target(sp->f[2], msg, size);
	if (fd < 0)
		return fd;
	snprintf(at, sizeof(at), "/proc/self/fd/%d", fd);
	if (!strcmp(sp->f[0], "blk")) {
		err = disk_find(sp->f[1], dev, sizeof(dev), 3000);
		if (err)
			snprintf(msg, size, "mount %s: no volume disk with serial %s", sp->f[2], sp->f[1]);
		else if (mount(dev, at, "ext4", flags | MS_NODEV, NULL))
			err = -errno, snprintf(msg, size, "mount volume %s on %s: %s", dev, sp->f[2], strerror(errno));
	} else if (!strcmp(sp->f[0], "9p")) {
		if (!have_9p && modules_load("/lib/modules/order-9p", 0) == 0)
			have_9p = 1;
		if (mount(sp->f[1], at, "9p", flags | MS_NODEV,
			  "trans=virtio,version=9p2000.L,msize=524288,cache=mmap,access=client"))
			err = -errno, snprintf(msg, size, "mount host directory %s on %s: %s", sp->f[1], sp->f[2],
					      strerror(errno));
	} else {
		if (mount("tmpfs", at, "tmpfs", flags | MS_NOSUID | MS_NODEV, *sp->f[4] ? sp->f[4] : NULL))
			err = -errno, snprintf(msg, size, "mount tmpfs on %s: %s", sp->f[2], strerror(errno));
	}
	close(fd);
	return err;
}

int volumes_mount(char *const *specs, size_t n, char *msg, size_t size)
{
	struct spec sp;
	const char *why;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (parse(specs[i], &sp, &why)) {
			snprintf(msg, size, "invalid MOUNT field %zu: %s", i, why);
			return -EINVAL;
		}
		err = mount_one(&sp, msg, size);
		if (err)
			return err;
	}
	return 0;
}
