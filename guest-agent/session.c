/* Processes started by RUN (session 0) and EXEC (sessions 1..65535 of one ctl connection). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

#define READ_CHUNK 16384

struct session *session_find(struct agent *a, int owner, uint16_t id)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (s->used && s->id == id && (id == 0 ? s->owner == OWNER_MAIN : s->owner == owner))
			return s;
	}
	return NULL;
}

struct session *session_new(struct agent *a, int owner, uint16_t id)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->owner = owner;
		s->id = id;
		s->c.pid = -1;
		s->c.in_fd = s->c.out_fd = s->c.err_fd = -1;
		return s;
	}
	return NULL;
}

/* Where a session's frames go: log for the main process, its connection for exec sessions,
 * nowhere (NULL) once that connection is gone. */
struct buf *session_queue(struct agent *a, const struct session *s)
{
	if (s->owner == OWNER_MAIN)
		return &a->ports[PORT_LOG].out;
	if (s->owner == OWNER_NONE || s->owner == OWNER_PREPARE)
		return NULL;
	return port_queue(a, s->owner);
}

static void close_output(struct session *s, int fd)
{
	if (s->c.tty) {
		/* the pty master is stdin too */
		close(fd);
		s->c.in_fd = s->c.out_fd = -1;
		buf_free(&s->in);
		return;
	}
	close(fd);
	if (fd == s->c.out_fd)
		s->c.out_fd = -1;
	else
		s->c.err_fd = -1;
}

/* Read what fd has and forward it. Returns 0, or -EPIPE at end of stream. */
int session_pump_output(struct agent *a, struct session *s, int fd)
{
	uint8_t data[READ_CHUNK], ts[8];
	uint8_t type = fd == s->c.err_fd ? MSG_STDERR : MSG_STDOUT;
	struct buf *q;
	size_t start;
	ssize_t n;

	n = read(fd, data, sizeof(data));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) { /* EOF, or EIO from a pty master whose slave is closed */
		close_output(s, fd);
		return -EPIPE;
	}
	q = session_queue(a, s);
	if (!q)
		return 0;
	if (frame_begin(q, type, s->id, &start))
		return 0;
	if (s->owner == OWNER_MAIN) {
		put_u64(ts, now_ns());
		buf_append(q, ts, sizeof(ts));
	}
	if (buf_append(q, data, (size_t)n) || frame_finish(q, start))
		q->len = start; /* out of memory: drop this chunk */
	return 0;
}

static void close_input(struct session *s)
{
	struct termios t;
	char eof;

	buf_free(&s->in);
	s->in_eof = 0;
	if (s->c.tty) {
		/* a pty has no EOF of its own: send the VEOF character like a terminal would */
		eof = tcgetattr(s->c.in_fd, &t) ? 4 : (char)t.c_cc[VEOF];
		(void)!write(s->c.in_fd, &eof, 1);
		return;
	}
	close(s->c.in_fd);
	s->c.in_fd = -1;
}

/* Write pending stdin. Returns 0 or -errno. */
int session_pump_input(struct session *s)
{
	ssize_t n;

	while (s->in.len) {
		n = write(s->c.in_fd, s->in.data, s->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			/* the process closed its stdin: drop what it will never read */
			buf_free(&s->in);
			if (!s->c.tty) {
				close(s->c.in_fd);
				s->c.in_fd = -1;
			}
			return -errno;
		}
		buf_consume(&s->in, (size_t)n);
	}
	if (s->in_eof)
		close_input(s);
	return 0;
}

void session_child_exited(struct agent *a, pid_t pid, int status)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (!s->used || s->c.pid != pid || s->exited)
			continue;
		s->exited = 1;
		s->status = status;
		if (s->owner == OWNER_MAIN) {
			/* the container is over: nothing may outlive its init */
			a->state = STATE_EXITED;
			kill(-1, SIGKILL);
		}
		return;
	}
}

/* Report sessions whose process exited and whose output is fully read. */
void session_finish_done(struct agent *a)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];
		struct buf *q;

		if (!s->used || !s->exited || s->c.out_fd >= 0 || s->c.err_fd >= 0)
			continue;
		if (s->owner == OWNER_PREPARE) {
			prepare_finished(a, s);
			s->used = 0;
			continue;
		}
		q = s->owner == OWNER_MAIN ? &a->ports[PORT_EVENTS].out : session_queue(a, s);
		if (q)
			send_exit(q, s->id, s->status);
		if (s->c.in_fd >= 0)
			close(s->c.in_fd);
		buf_free(&s->in);
		if (s->owner == OWNER_MAIN)
			a->shutdown = 1;
		s->used = 0;
	}
}

/* The connection on `port` is gone (or restarted): kill what it started, drop its output. */
void sessions_orphan(struct agent *a, int port)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (!s->used || s->owner != port)
			continue;
		s->owner = OWNER_NONE;
		if (!s->exited) {
			kill(-s->c.pid, SIGKILL);
			kill(s->c.pid, SIGKILL);
		}
	}
}
