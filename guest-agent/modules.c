#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "modules.h"
#include "util.h"

/* "virtio-rng.ko" -> "virtio_rng" */
static void module_name(const char *file, char *name, size_t size)
{
	size_t i;

	for (i = 0; file[i] && i + 1 < size; i++)
		name[i] = file[i] == '-' ? '_' : file[i];
	name[i] = 0;
	if (i > 3 && !strcmp(name + i - 3, ".ko"))
		name[i - 3] = 0;
}

/* Collect "param=value" for module `name` from the kernel command line into out. */
static void module_params(const char *cmdline, const char *name, char *out, size_t size)
{
	const char *p = cmdline, *end, *dot;
	size_t used = 0, nlen = strlen(name), k;
	int same;

	out[0] = 0;
	while (*p) {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, " ");
		dot = memchr(p, '.', (size_t)(end - p));
		same = dot && (size_t)(dot - p) == nlen;
		for (k = 0; same && k < nlen; k++)
			same = (p[k] == '-' ? '_' : p[k]) == name[k];
		if (same && (size_t)(end - dot - 1) + 2 < size - used) {
			if (used)
				out[used++] = ' ';
			memcpy(out + used, dot + 1, (size_t)(end - dot - 1));
			used += (size_t)(end - dot - 1);
			out[used] = 0;
		}
		p = end;
	}
}

static int load_one(const char *dir, const char *file, const char *cmdline)
{
	char path[512], name[128], params[1024];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	module_name(file, name, sizeof(name));
	module_params(cmdline, name, params, sizeof(params));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, params, 0) && errno != EEXIST)
		err = -errno;
	close(fd);
	return err;
}

int modules_load(const char *order, int verbose)
{
	char dir[256], cmdline[4096], line[256];
	const char *slash = strrchr(order, '/');
	size_t len;
	int failed = 0, err;
	uint64_t t;
	FILE *f;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - order) : 1, slash ? order : ".");
	if (read_small("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		cmdline[0] = 0;
	f = fopen(order, "re");
	if (!f) {
		say("open `%s`: %s", order, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		len = strcspn(line, "\r\n");
		line[len] = 0;
		if (!len || line[0] == '#')
			continue;
		t = mono_ms();
		err = load_one(dir, line, cmdline);
		if (verbose)
			say("module %s: %llu ms", line, (unsigned long long)(mono_ms() - t));
		if (err) {
			say("load module `%s`: %s", line, strerror(-err));
			failed++;
		}
	}
	fclose(f);
	return failed;
}
