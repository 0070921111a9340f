/* Frames out (emit, STARTED/ERROR/EXIT) and host requests in: HELLO, RUN, EXEC, STDIN, KILL,
 * RESIZE (docs/guest-protocol.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"
#include "util.h"

static void write_file_frame(struct shim *sh, int fd, uint8_t type, uint16_t session, const void *payload, size_t len)
{
	static struct buf b;
	size_t start;
	int err;

	b.len = 0;
	err = frame_begin(&b, type, session, &start);
	err = err ? err : buf_append(&b, payload, len);
	err = err ? err : frame_finish(&b, start);
	/* one write: readers of an appended file never see half a frame from us */
	err = err ? err : write_all(fd, b.data, b.len);
	if (err)
		say("write %s frame 0x%02x: %s", fd == sh->log_fd ? "log" : "events", type, strerror(-err));
}

void emit(struct shim *sh, int to, uint8_t type, uint16_t session, const void *payload, size_t len)
{
	struct ctl *c;
	size_t start;

	if (to == TO_EVENTS || to == TO_LOG) {
		write_file_frame(sh, to == TO_LOG ? sh->log_fd : sh->events_fd, type, session, payload, len);
		return;
	}
	if (to < 0 || to >= CTL_PORTS)
		return;
	c = &sh->ctl[to];
	if (c->fd < 0 || c->drop)
		return;
	if (frame_begin(&c->out, type, session, &start) || buf_append(&c->out, payload, len) ||
	    frame_finish(&c->out, start)) {
		c->out.len = start;
		c->drop = 1;
		return;
	}
	if (c->out.len > QUEUE_MAX) {
		say("ctl-%d: client does not read (%zu bytes queued): dropping it", to, c->out.len);
		c->drop = 1;
	}
}

void send_fields(struct shim *sh, int to, uint8_t type, uint16_t session, const struct buf *fields)
{
	emit(sh, to, type, session, fields->data, fields->len);
}

void send_error(struct shim *sh, int to, uint16_t session, int code, const char *msg, int with_exit)
{
	struct buf f = { 0 };

	say("session %u: error %d: %s", session, code, msg);
	field_i32(&f, TAG_CODE, code);
	field_str(&f, TAG_MESSAGE, msg);
	send_fields(sh, to, MSG_ERROR, session, &f);
	buf_free(&f);
	if (with_exit)
		send_exit(sh, to, session, (code & 0xff) << 8);
}

void send_exit(struct shim *sh, int to, uint16_t session, int status)
{
	struct buf f = { 0 };

	/* the status may come from the init's pipe, which the container can write to: only
	 * values the protocol allows go out */
	if (WIFSIGNALED(status) && WTERMSIG(status) >= 1 && WTERMSIG(status) <= 64) {
		field_i32(&f, TAG_CODE, 128 + WTERMSIG(status));
		field_u32(&f, TAG_SIGNAL, (uint32_t)WTERMSIG(status));
	} else {
		field_i32(&f, TAG_CODE, WIFEXITED(status) ? WEXITSTATUS(status) : 255);
	}
	send_fields(sh, to, MSG_EXIT, session, &f);
	buf_free(&f);
}

void send_started(struct shim *sh, int to, uint16_t session, pid_t pid)
{
	struct buf f = { 0 };

	field_u32(&f, TAG_PID, (uint32_t)pid);
	send_fields(sh, to, MSG_STARTED, session, &f);
	buf_free(&f);
}

static void handle_hello(struct shim *sh, int port)
{
	static const char *const states[] = { "booted", "running", "exited" };
	struct buf f = { 0 };

	field_u32(&f, TAG_VERSION, PROTO_VERSION);
	field_str(&f, TAG_AGENT, SHIM_NAME);
	field_str(&f, TAG_STATE, states[sh->state]);
	send_fields(sh, port, MSG_R_HELLO, 0, &f);
	buf_free(&f);
}

static int check_request(const struct frame *f, struct request *r, int need_args, char *msg, size_t size)
{
	const char *why;

	if (request_parse(f->payload, f->len, r, &why)) {
		snprintf(msg, size, "invalid request: %s", why);
		return -EBADMSG;
	}
	if (need_args && (r->argc == 0 || !r->argv[0][0])) {
		snprintf(msg, size, "no command specified");
		request_free(r);
		return -EINVAL;
	}
	if (r->cwd && r->cwd[0] && r->cwd[0] != '/') {
		snprintf(msg, size, "the working directory '%s' is invalid, it needs to be an absolute path", r->cwd);
		request_free(r);
		return -EINVAL;
	}
	return 0;
}

/* RUN: the bundle's config.json says what to run (args, env, cwd, user, hostname, read-only
 * root); from the request only TTY, STDIN, ROWS and COLS apply. */
static void handle_run(struct shim *sh, int port, const struct frame *f)
{
	struct request r;
	struct session *s;
	char msg[1024];

	if (sh->state != STATE_BOOTED || f->session != 0) {
		send_error(sh, port, f->session, 125,
			   f->session ? "RUN must use session 0" : "the main process was already started", 0);
		return;
	}
	sh->state = STATE_RUNNING;
	s = session_new(sh, OWNER_MAIN, 0);
	if (check_request(f, &r, 0, msg, sizeof(msg)) == 0) {
		if (!session_start(sh, s, &r, msg, sizeof(msg))) {
			request_free(&r);
			return;
		}
		request_free(&r);
	}
	/* nothing runs: the sandbox is over */
	send_error(sh, TO_EVENTS, 0, 125, msg, 1);
	s->used = 0;
	sh->state = STATE_EXITED;
	sh->linger_deadline = mono_ms() + LINGER_MS;
}

static void handle_exec(struct shim *sh, int port, const struct frame *f)
{
	struct session *main = session_find(sh, OWNER_MAIN, 0), *s;
	struct request r;
	char msg[1024];

	if (f->session == 0) {
		send_error(sh, port, 0, 125, "EXEC needs a session number from 1 to 65535", 0);
		return;
	}
	if (session_find(sh, port, f->session)) {
		send_error(sh, port, f->session, 125, "session already in use on this connection", 0);
		return;
	}
	if (sh->state != STATE_RUNNING || !main || !main->started || main->exited) {
		send_error(sh, port, f->session, 125, "container is not running", 1);
		return;
	}
	if (check_request(f, &r, 1, msg, sizeof(msg))) {
		send_error(sh, port, f->session, 125, msg, 1);
		return;
	}
	s = session_new(sh, port, f->session);
	if (!s) {
		send_error(sh, port, f->session, 125, "too many sessions", 1);
	} else if (session_start(sh, s, &r, msg, sizeof(msg))) {
		send_error(sh, port, f->session, 125, msg, 1);
		s->used = 0;
		unlink(s->procjson);
	}
	request_free(&r);
}

static void handle_stdin(struct shim *sh, int port, const struct frame *f)
{
	struct session *s = session_find(sh, port, f->session);

	if (!s || s->exited || s->in_eof || (!s->stdin_open && !s->tty) || (s->in_fd < 0 && !s->starter))
		return; /* exited, no stdin, or already closed: the bytes have no reader */
	if (f->len == 0)
		s->in_eof = 1;
	else if (buf_append(&s->in, f->payload, f->len))
		say("session %u: stdin dropped: out of memory", f->session);
	session_pump_input(s);
}

static void handle_kill(struct shim *sh, int port, const struct frame *f)
{
	struct session *s = session_find(sh, port, f->session);
	struct request r;
	const char *why;

	if (request_parse(f->payload, f->len, &r, &why)) {
		say("KILL for session %u ignored: %s", f->session, why);
		return;
	}
	if (!(r.have & 1u << TAG_SIGNAL) || r.signal < 1 || r.signal > 64)
		say("KILL for session %u ignored: SIGNAL missing or not in 1..64", f->session);
	else if (s)
		session_signal(s, (int)r.signal);
	request_free(&r);
}

static void handle_resize(struct shim *sh, int port, const struct frame *f)
{
	struct session *s = session_find(sh, port, f->session);
	struct request r;
	const char *why;

	if (request_parse(f->payload, f->len, &r, &why)) {
		say("RESIZE for session %u ignored: %s", f->session, why);
		return;
	}
	if (s && s->tty && r.rows && r.cols && r.rows < 65536 && r.cols < 65536)
		session_resize(s, r.rows, r.cols);
	request_free(&r);
}

void handle_frame(struct shim *sh, int port, const struct frame *f)
{
	switch (f->type) {
	case MSG_HELLO:
		handle_hello(sh, port);
		break;
	case MSG_RUN:
		handle_run(sh, port, f);
		break;
	case MSG_EXEC:
		handle_exec(sh, port, f);
		break;
	case MSG_STDIN:
		handle_stdin(sh, port, f);
		break;
	case MSG_KILL:
		handle_kill(sh, port, f);
		break;
	case MSG_RESIZE:
		handle_resize(sh, port, f);
		break;
	}
}
