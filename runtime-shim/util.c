#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "rtshim.h"

static int note_fd = -1;

/* Diagnostics never go to fd 2: that is the container's stderr. */
void note_to(int fd)
{
	note_fd = fd;
}

void note(const char *f, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (note_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "nestbox-runtime-shim[%d]: ", (int)getpid());
	va_start(ap, f);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, f, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	(void)!write(note_fd, line, (size_t)n);
}

int read_whole(const char *path, struct buf *out, size_t max)
{
	uint8_t chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || out->len + (size_t)n > max || buf_append(out, chunk, (size_t)n)) {
			err = n < 0 ? -errno : -EFBIG;
			break;
		}
	}
	close(fd);
	return err;
}

void sync_report(const char *f, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(line, sizeof(line) - 1, f, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write_all(SYNC_FD, line, (size_t)n);
	close(SYNC_FD);
}

void exit_like(int code, int sig)
{
	struct rlimit none = { 0, 0 };
	sigset_t all;

	if (sig > 0 && sig < 65 && sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) {
		setrlimit(RLIMIT_CORE, &none); /* the workload's core dump is not ours to write */
		signal(sig, SIG_DFL);
		sigemptyset(&all);
		sigaddset(&all, sig);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		raise(sig);
	}
	/* signals whose default is to ignore them (or to stop): report 128+n, as a shell would */
	exit(code & 0xff);
}

/* A path too long for sun_path is reached through /proc/self/fd/<dirfd>/<name>. */
int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[4096], alt[128];
	const char *slash;
	int fd, dfd = -1, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = 0;
		dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		if (fmt(alt, sizeof(alt), "/proc/self/fd/%d/%s", dfd, slash + 1)) {
			close(dfd);
			return -ENAMETOOLONG;
		}
		path = alt;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		err = -errno;
	else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
	}
	if (dfd >= 0)
		close(dfd);
	return err ? err : fd;
}

void stdio_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

int is_dev_null(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

int frame_u32(const struct frame *f, uint8_t tag, uint32_t *out)
{
	struct field_iter it;
	struct field fl;
	int found = 0;

	field_iter_init(&it, f->payload, f->len);
	while (field_next(&it, &fl) > 0)
		if (fl.tag == tag && fl.len == 4) {
			*out = get_u32(fl.value);
			found = 1;
		}
	return found ? 0 : -ENOENT;
}

int frame_str(const struct frame *f, uint8_t tag, char *out, size_t size)
{
	struct field_iter it;
	struct field fl;
	size_t n, i;

	field_iter_init(&it, f->payload, f->len);
	while (field_next(&it, &fl) > 0) {
		if (fl.tag != tag)
			continue;
		n = fl.len < size - 1 ? fl.len : size - 1;
		for (i = 0; i < n; i++) /* keep it printable: it ends up in logs and one-line replies */
			out[i] = fl.value[i] >= 0x20 && fl.value[i] != 0x7f ? (char)fl.value[i] : '?';
		out[n] = 0;
		return 0;
	}
	return -ENOENT;
}
