/* --console-socket: like runc, make a pty and send its master to the caller over the unix socket
 * (SCM_RIGHTS, the pty's name as the message). The workload's real terminal is the guest's pty;
 * ours is a raw byte pipe to it, so the slave is in raw mode and is our controlling terminal:
 * the caller's resizes of the master reach us as SIGWINCH. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "rtshim.h"

static int send_fd(int sock, int fd, const char *name)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int console_setup(const char *socket_path, char *msg, size_t size)
{
	struct termios t;
	char name[128];
	int master, slave, sock, err;

	if (openpty(&master, &slave, name, NULL, NULL)) {
		err = -errno;
		snprintf(msg, size, "openpty: %s", strerror(errno));
		return err;
	}
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	if (!tcgetattr(slave, &t)) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	sock = unix_connect(socket_path);
	if (sock < 0) {
		snprintf(msg, size, "connect to console socket `%s`: %s", socket_path, strerror(-sock));
		close(master);
		close(slave);
		return sock;
	}
	err = send_fd(sock, master, name);
	close(sock);
	close(master);
	if (err) {
		snprintf(msg, size, "send the pty to console socket `%s`: %s", socket_path, strerror(-err));
		close(slave);
		return err;
	}
	if (ioctl(slave, TIOCSCTTY, 0))
		note("TIOCSCTTY: %s (window size changes will not be forwarded)", strerror(errno));
	return slave;
}

void console_size(int fd, unsigned *rows, unsigned *cols)
{
	struct winsize ws;

	*rows = *cols = 0;
	if (!ioctl(fd, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}
