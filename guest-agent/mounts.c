#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mounts.h"
#include "util.h"

#define STATE "/run/nestbox"
#define LOWER STATE "/lower"
#define RWDIR STATE "/rw"
#define SKEL STATE "/skel"
#define IDENT STATE "/identity"

/* The container's identity files: the agent keeps them in IDENT (its own root) and bind-mounts
 * each over the container's /etc/<name>, as Docker does with /etc/hosts. Rewriting one (a RUN
 * after PREPARE, REIDENTIFY) touches no filesystem of the container: a guest restored from a
 * template does not write its writable layer (ext4, the journal, the disk) to take its identity. */
static const char *const IDENT_FILES[] = { "hostname", "hosts", "resolv.conf", "machine-id" };

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		    const char *data)
{
	return mount(src, dst, type, flags, data) ? -errno : 0;
}

int mount_early(void)
{
	int err = 0, fd;

	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	err = err ?: do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	err = err ?: do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	err = err ?: do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	return err;
}

/* Make sure /dev/<name> exists (devtmpfs creates nodes asynchronously). */
static int ensure_blockdev(const char *name, char *dev, size_t size)
{
	char path[300], num[32];
	unsigned maj, min;

	snprintf(dev, size, "/dev/%s", name);
	if (!access(dev, F_OK))
		return 0;
	snprintf(path, sizeof(path), "/sys/block/%s/dev", name);
	if (read_small(path, num, sizeof(num)) < 0 || sscanf(num, "%u:%u", &maj, &min) != 2)
		return -ENODEV;
	if (mknod(dev, S_IFBLK | 0600, makedev(maj, min)) && errno != EEXIST)
		return -errno;
	return 0;
}

static int scan_disks(const char *serial, char *dev, size_t size)
{
	char path[300], value[128];
	struct dirent *de;
	int err = -ENODEV;
	DIR *d = opendir("/sys/block");

	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vd", 2))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/serial", de->d_name);
		if (read_small(path, value, sizeof(value)) < 0 || strcmp(value, serial))
			continue;
		err = ensure_blockdev(de->d_name, dev, size);
		break;
	}
	closedir(d);
	return err;
}

int disk_find(const char *serial, char *dev, size_t size, unsigned timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	int err;

	while ((err = scan_disks(serial, dev, size)) && mono_ms() < deadline)
		sleep_ms(5);
	return err;
}

static int fail(char *msg, size_t size, int err, const char *what, const char *subject)
{
	snprintf(msg, size, "%s `%s`: %s", what, subject, strerror(-err));
	return err;
}

/* The top lower layer: mount points the image may lack, among them empty regular files for the
 * identity files to be bind-mounted on (whatever the image has there, a link included, is
 * shadowed). */
static int make_skel(void)
{
	static const char *const dirs[] = { SKEL "/proc", SKEL "/sys", SKEL "/dev", SKEL "/etc" };
	char path[128];
	size_t i;
	int err;

	mkdir(SKEL, 0755);
	err = do_mount("tmpfs", SKEL, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
	for (i = 0; !err && i < ARRAY_SIZE(dirs); i++)
		if (mkdir(dirs[i], 0755))
			err = -errno;
	for (i = 0; !err && i < ARRAY_SIZE(IDENT_FILES); i++) {
		snprintf(path, sizeof(path), SKEL "/etc/%s", IDENT_FILES[i]);
		err = write_file(path, "", 0644);
	}
	return err;
}

/* The image's own /etc/<name>, links resolved inside the image, or "" (the content of an
 * identity file the host gave no value for). */
static void image_file(const char *name, char *out, size_t size)
{
	char path[64];
	ssize_t n = 0;
	int root, fd;

	out[0] = 0;
	root = open(LOWER, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return;
	snprintf(path, sizeof(path), "etc/%s", name);
	fd = open_in_root(root, path, RESOLVE_NO_MAGICLINKS);
	close(root);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	out[n > 0 ? n : 0] = 0;
	close(fd);
}

int identity_set(const char *name, const char *content)
{
	char path[128];

	snprintf(path, sizeof(path), IDENT "/%s", name);
	return write_file(path, content, 0644);
}

/* Bind each identity file over the container's /etc/<name>, which must be a regular file: a
 * link there (the writable layer of an older container may have one) is never mounted through. */
static int bind_identity(int readonly, char *msg, size_t size)
{
	char src[128], dst[128];
	struct stat st;
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(IDENT_FILES); i++) {
		snprintf(src, sizeof(src), IDENT "/%s", IDENT_FILES[i]);
		snprintf(dst, sizeof(dst), NEWROOT "/etc/%s", IDENT_FILES[i]);
		if (lstat(dst, &st) || !S_ISREG(st.st_mode)) {
			if (readonly || (unlink(dst) && errno != ENOENT) || (err = write_file(dst, "", 0644)))
				return fail(msg, size, -ENOTSUP, "mount point (not a regular file)", dst);
		}
		err = do_mount(src, dst, NULL, MS_BIND, NULL);
		if (err)
			return fail(msg, size, err, "bind mount", dst);
	}
	return 0;
}

static int mount_inside(char *msg, size_t size)
{
	static const struct {
		const char *src, *dst, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
		{ "proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL },
		{ "devtmpfs", NEWROOT "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
		{ "devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5" },
		{ NEWROOT "/dev/pts/ptmx", NEWROOT "/dev/ptmx", NULL, MS_BIND, NULL },
		{ "shm", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k" },
	};
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(m); i++) {
		if (!m[i].type) {
			if (access(m[i].dst, F_OK) && (err = write_file(m[i].dst, "", 0666)))
				return fail(msg, size, err, "create", m[i].dst);
		} else if (mkdir(m[i].dst, 0755) && errno != EEXIST) {
			return fail(msg, size, -errno, "mkdir", m[i].dst);
		}
		err = do_mount(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data);
		if (err)
			return fail(msg, size, err, "mount", m[i].dst);
	}
	return 0;
}

/* `value` and `suffix`, or when value is empty the image's own /etc/<name>. */
static void value_or_image(char *out, size_t size, const char *value, const char *suffix, const char *name)
{
	if (*value)
		snprintf(out, size, "%s%s", value, suffix);
	else
		image_file(name, out, size);
}

/* Write all four identity files; an empty resolv or machine_id means the image's own file. */
static int write_identity(const char *hosts, const char *hostname, const char *machine_id, const char *resolv,
			  char *msg, size_t size)
{
	char line[1024];
	int err;

	mkdir(IDENT, 0755);
	snprintf(line, sizeof(line), "%s\n", hostname);
	err = identity_set("hostname", line) ?: identity_set("hosts", hosts);
	if (!err) {
		value_or_image(line, sizeof(line), resolv, "", "resolv.conf");
		err = identity_set("resolv.conf", line);
	}
	if (!err) {
		value_or_image(line, sizeof(line), machine_id, "\n", "machine-id");
		err = identity_set("machine-id", line);
	}
	return err ? fail(msg, size, err, "write the identity files in", IDENT) : 0;
}

void hosts_file(char *hosts, size_t size, const char *hostname, const char *hosts_extra)
{
	snprintf(hosts, size,
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n%s", hostname, hosts_extra);
}

int rootfs_identity(const char *hostname, const char *machine_id, const char *hosts_extra, const char *resolv,
		    char *msg, size_t size)
{
	char hosts[2560];

	hosts_file(hosts, sizeof(hosts), hostname, hosts_extra);
	return write_identity(hosts, hostname, machine_id, resolv, msg, size);
}

int rootfs_mount(int readonly, const char *hostname, const char *machine_id, const char *hosts_extra,
		 const char *resolv, char *msg, size_t size)
{
	char root[64], rw[64], opts[256], hosts[2560];
	int err;

	hosts_file(hosts, sizeof(hosts), hostname, hosts_extra);
	if (sethostname(hostname, strlen(hostname)))
		return fail(msg, size, -errno, "sethostname", hostname);
	err = disk_find("nestbox-root", root, sizeof(root), 3000);
	if (err)
		return fail(msg, size, err, "find disk", "nestbox-root");
	if (!readonly && (err = disk_find("nestbox-rw", rw, sizeof(rw), 3000)))
		return fail(msg, size, err, "find disk", "nestbox-rw");
	mkdir("/run", 0755);
	mkdir(STATE, 0700);
	mkdir(LOWER, 0755);
	mkdir(RWDIR, 0755);
	mkdir(NEWROOT, 0755);
	err = do_mount(root, LOWER, "erofs", MS_RDONLY | MS_NODEV, NULL);
	if (err)
		return fail(msg, size, err, "mount erofs", root);
	err = make_skel();
	if (err)
		return fail(msg, size, err, "create", SKEL);
	if (readonly) {
		snprintf(opts, sizeof(opts), "lowerdir=%s:%s", SKEL, LOWER);
	} else {
		/* noinit_itable, no_prefetch_block_bitmaps: no background zeroing of the inode tables (mkfs
		 * left them lazy) or reading of block bitmaps, which
		 * would write the disk for minutes after every mount (and in every restored sandbox) */
		err = do_mount(rw, RWDIR, "ext4", MS_NODEV, "noinit_itable,no_prefetch_block_bitmaps");
		if (err)
			return fail(msg, size, err, "mount ext4", rw);
		if ((mkdir(RWDIR "/upper", 0755) && errno != EEXIST) ||
		    (mkdir(RWDIR "/work", 0755) && errno != EEXIST))
			return fail(msg, size, -errno, "mkdir", RWDIR "/upper");
		snprintf(opts, sizeof(opts), "lowerdir=%s:%s,upperdir=%s/upper,workdir=%s/work",
			 SKEL, LOWER, RWDIR, RWDIR);
	}
	err = do_mount("overlay", NEWROOT, "overlay", readonly ? MS_RDONLY : 0, opts);
	if (err)
		return fail(msg, size, err, "mount overlay", NEWROOT);
	err = mount_inside(msg, size);
	if (err)
		return err;
	err = write_identity(hosts, hostname, machine_id, resolv, msg, size);
	return err ?: bind_identity(readonly, msg, size);
}

/* Unmount every mount point below and at NEWROOT, deepest first, then the disks. */
void rootfs_unmount(void)
{
	char line[1024], mnts[64][256], *p, *q;
	int n = 0, i;
	FILE *f;

	sync();
	f = fopen("/proc/self/mounts", "re");
	while (f && fgets(line, sizeof(line), f) && n < 64) {
		p = strchr(line, ' ');
		q = p ? strchr(p + 1, ' ') : NULL;
		if (!q)
			continue;
		*q = 0;
		if (!strncmp(p + 1, NEWROOT, strlen(NEWROOT)) || !strncmp(p + 1, STATE, strlen(STATE)))
			snprintf(mnts[n++], sizeof(mnts[0]), "%s", p + 1);
	}
	if (f)
		fclose(f);
	for (i = n - 1; i >= 0; i--)
		if (umount2(mnts[i], 0))
			umount2(mnts[i], MNT_DETACH);
	sync();
}

int loopback_up(void)
{
	struct ifreq ifr;
	int err = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	return err;
}
