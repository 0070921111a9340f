/* A ctl port of the sandbox. QEMU serves each port to one client at a time; hosts agree on who
 * uses which port through a lock: the abstract socket name `\0nestbox-lock-<key>` that
 * src/core/lock.ts binds (the runtime CLI passes the keys). The kernel frees it when we die. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rtshim.h"

static int lock_take(const char *key)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "nestbox-lock-%s", key);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) - 1)
		return -ENAMETOOLONG;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* listening too, as the TypeScript side does, so either side sees the name taken */
	if (bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 1)) {
		n = -errno;
		close(fd);
		return n;
	}
	return fd;
}

int chan_open(struct chan *c, char *const keys[CTL_PORTS], const int *ports, int nports, unsigned timeout_ms,
	      int (*alive)(void))
{
	uint64_t deadline = mono_ms() + timeout_ms;
	char name[32];
	int i, fd, lock;

	memset(c, 0, sizeof(*c));
	c->fd = c->lock = -1;
	for (;;) {
		for (i = 0; i < nports; i++) {
			lock = lock_take(keys[ports[i]]);
			if (lock < 0)
				continue;
			snprintf(name, sizeof(name), "ctl-%d.sock", ports[i]);
			fd = unix_connect(name);
			if (fd >= 0) {
				c->fd = fd;
				c->lock = lock;
				c->port = ports[i];
				return 0;
			}
			close(lock);
		}
		if (mono_ms() > deadline || (alive && !alive()))
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

int chan_send(struct chan *c, const struct buf *frame)
{
	return c->fd < 0 ? -EPIPE : write_all(c->fd, frame->data, frame->len);
}

int chan_fill(struct chan *c)
{
	uint8_t chunk[65536];
	ssize_t n;

	n = read(c->fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -EPIPE;
	if (n == 0)
		return -EPIPE;
	if (c->in.len > 4 * (FRAME_HEADER + FRAME_MAX_PAYLOAD))
		return -EMSGSIZE; /* frames are consumed as they come: this is a guest flooding us */
	return buf_append(&c->in, chunk, (size_t)n) ? -ENOMEM : 0;
}

int chan_frame(struct chan *c, struct frame *f)
{
	int r = frame_decode(c->in.data, c->in.len, guest_type, f);

	return r;
}

int chan_hello(struct chan *c, unsigned timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	struct buf b = { 0 };
	struct frame f;
	struct pollfd p;
	uint32_t version = 0;
	size_t start;
	int r;

	if (frame_begin(&b, MSG_HELLO, 0, &start) || field_u32(&b, TAG_VERSION, PROTO_VERSION) || frame_finish(&b, start))
		return -ENOMEM;
	r = chan_send(c, &b);
	buf_free(&b);
	if (r)
		return r;
	for (;;) {
		while ((r = chan_frame(c, &f)) > 0) {
			int hello = f.type == MSG_R_HELLO;

			if (hello && frame_u32(&f, TAG_VERSION, &version))
				version = 0;
			buf_consume(&c->in, (size_t)r);
			if (hello)
				return version == PROTO_VERSION ? 0 : -EPROTO;
		}
		if (r < 0)
			return -EBADMSG;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		p = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - mono_ms()) + 1) < 0 && errno != EINTR)
			return -errno;
		if (p.revents && (r = chan_fill(c)))
			return r;
	}
}

void chan_close(struct chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->lock >= 0)
		close(c->lock);
	c->fd = c->lock = -1;
	buf_free(&c->in);
}

static int send_built(struct chan *c, struct buf *b, int err)
{
	if (!err)
		err = chan_send(c, b);
	buf_free(b);
	return err;
}

int send_kill(struct chan *c, uint16_t session, int sig)
{
	struct buf b = { 0 };
	size_t start;
	int err = frame_begin(&b, MSG_KILL, session, &start) || field_u32(&b, TAG_SIGNAL, (uint32_t)sig) ||
		  frame_finish(&b, start);

	return send_built(c, &b, err ? -ENOMEM : 0);
}

int send_resize(struct chan *c, uint16_t session, unsigned rows, unsigned cols)
{
	struct buf b = { 0 };
	size_t start;
	int err = frame_begin(&b, MSG_RESIZE, session, &start) || field_u32(&b, TAG_ROWS, rows) ||
		  field_u32(&b, TAG_COLS, cols) || frame_finish(&b, start);

	return send_built(c, &b, err ? -ENOMEM : 0);
}

int send_stdin(struct chan *c, uint16_t session, const void *p, size_t n)
{
	struct buf b = { 0 };
	size_t start;
	int err = frame_begin(&b, MSG_STDIN, session, &start) || (n && buf_append(&b, p, n)) || frame_finish(&b, start);

	return send_built(c, &b, err ? -ENOMEM : 0);
}

int send_request(struct chan *c, const struct buf *base, int with_time, int stdin_open, unsigned rows, unsigned cols)
{
	struct buf b = { 0 };
	uint8_t t[8];
	uint32_t len;
	int err = 0;

	if (base->len < FRAME_HEADER || get_u32(base->data + 4) != base->len - FRAME_HEADER)
		return -EINVAL;
	err = buf_append(&b, base->data, base->len) ? -ENOMEM : 0;
	/* a field sent again replaces the earlier value (docs/guest-protocol.md) */
	if (!err && with_time) {
		put_u64(t, now_ns());
		err = field_bytes(&b, TAG_TIME_NS, t, 8) ? -ENOMEM : 0;
	}
	if (!err)
		err = field_u32(&b, TAG_STDIN, stdin_open ? 1 : 0) ? -ENOMEM : 0;
	if (!err && rows && cols)
		err = field_u32(&b, TAG_ROWS, rows) || field_u32(&b, TAG_COLS, cols) ? -ENOMEM : 0;
	if (!err) {
		len = (uint32_t)(b.len - FRAME_HEADER);
		err = len > FRAME_MAX_PAYLOAD ? -EMSGSIZE : 0;
		put_u32(b.data + 4, len);
	}
	return send_built(c, &b, err);
}
