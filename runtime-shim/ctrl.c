/* `runtime.sock` in the sandbox directory: the runtime CLI's way to reach the waiter. One line
 * per connection: `start` (answered `started PID` or `error CODE MESSAGE` once the guest says)
 * or `kill SIGNAL` (answered `ok`). Only root reaches it (the socket is 0600). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rtshim.h"

int ctrl_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "runtime.sock" };
	mode_t old;
	int fd, err;

	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(077);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ? -errno : 0;
	umask(old);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int ctrl_accept(int lfd, char *line, size_t size)
{
	struct pollfd p;
	size_t len = 0;
	ssize_t n;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return -1;
	/* the CLI writes its line at once; do not let a silent client hang the waiter */
	while (len < size - 1) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) <= 0)
			break;
		n = read(fd, line + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = 0;
	line[strcspn(line, "\n")] = 0;
	if (!len) {
		close(fd);
		return -1;
	}
	return fd;
}

void ctrl_reply(int fd, const char *f, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, f);
	n = vsnprintf(line, sizeof(line) - 1, f, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL);
}
