/* The ctl sockets `D/ctl-N.sock`, served like QEMU's socket chardev: one client per socket at a
 * time; the next one waits in the backlog until the current one disconnects. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"
#include "util.h"

/* Sockets are bound relative to the sandbox directory (our cwd): no sun_path length limit. */
static int listen_one(int n, char *msg, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[32];
	mode_t old;
	int fd, err;

	snprintf(path, sizeof(path), "ctl-%d.sock", n);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		snprintf(msg, size, "remove stale `%s`: %s", path, strerror(errno));
		return err;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, size, "socket: %s", strerror(errno));
		return err;
	}
	old = umask(077); /* the socket is created 0600 */
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ? -errno : 0;
	umask(old);
	if (err) {
		snprintf(msg, size, "listen on `%s`: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

int ctl_listen(struct shim *sh, char *msg, size_t size)
{
	int n, fd;

	for (n = 0; n < CTL_PORTS; n++) {
		fd = listen_one(n, msg, size);
		if (fd < 0)
			return fd;
		sh->ctl[n].lfd = fd;
	}
	return 0;
}

void ctl_accept(struct shim *sh, int port)
{
	struct ctl *c = &sh->ctl[port];
	int fd;

	if (c->fd >= 0)
		return;
	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			say("ctl-%d: accept: %s", port, strerror(errno));
		return;
	}
	c->fd = fd;
	c->drop = 0;
}

void ctl_disconnect(struct shim *sh, int port)
{
	struct ctl *c = &sh->ctl[port];

	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->drop = 0;
	buf_free(&c->in);
	buf_free(&c->out);
	sessions_orphan(sh, port);
}

void ctl_flush(struct shim *sh, int port)
{
	struct ctl *c = &sh->ctl[port];
	ssize_t n;

	while (c->fd >= 0 && c->out.len) {
		n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			c->drop = 1; /* the client is gone; reading will tell */
			buf_free(&c->out);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
}

static const char *decode_error(int r)
{
	return r == -EBADMSG ? "bad frame from host: unsupported protocol version"
	     : r == -EPROTO ? "bad frame from host: unknown message type"
	     : r == -EMSGSIZE ? "bad frame from host: payload longer than 65536 bytes"
			      : "out of memory";
}

void ctl_read(struct shim *sh, int port)
{
	struct ctl *c = &sh->ctl[port];
	uint8_t chunk[65536];
	struct frame f;
	size_t off = 0;
	ssize_t n;
	int r = 0;

	n = read(c->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_disconnect(sh, port);
		return;
	}
	if (c->drop)
		return;
	if (buf_append(&c->in, chunk, (size_t)n)) {
		r = -ENOMEM;
		goto bad;
	}
	while (c->fd >= 0 && !c->drop && (r = frame_decode(c->in.data + off, c->in.len - off, host_type, &f)) > 0) {
		off += (size_t)r;
		handle_frame(sh, port, &f);
	}
	if (r >= 0 || c->fd < 0 || c->drop) {
		buf_consume(&c->in, off);
		return;
	}
bad:
	/* the stream has lost its framing: say why, then close the connection */
	send_error(sh, port, 0, 125, decode_error(r), 0);
	ctl_flush(sh, port);
	c->drop = 1;
}

void ctl_close_all(struct shim *sh)
{
	char path[32];
	int n;

	for (n = 0; n < CTL_PORTS; n++) {
		ctl_flush(sh, n);
		if (sh->ctl[n].fd >= 0)
			close(sh->ctl[n].fd);
		sh->ctl[n].fd = -1;
		if (sh->ctl[n].lfd >= 0)
			close(sh->ctl[n].lfd);
		sh->ctl[n].lfd = -1;
		snprintf(path, sizeof(path), "ctl-%d.sock", n);
		unlink(path);
	}
}
