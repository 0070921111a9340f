/* Host requests: HELLO, RUN, EXEC, STDIN, KILL, RESIZE, REIDENTIFY (docs/guest-protocol.md); PREPARE is in prepare.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "entropy.h"
#include "mounts.h"
#include "net.h"
#include "volumes.h"
#include "util.h"

/* The queue of a port, or NULL when nothing can be sent there. While no host is connected
 * frames wait in the queue: a disconnect that ends the connection empties it (main.c). */
struct buf *port_queue(struct agent *a, int port)
{
	struct port *p = &a->ports[port];

	return p->fd >= 0 && !p->broken ? &p->out : NULL;
}

void send_frame(struct buf *q, uint8_t type, uint16_t session, const struct buf *fields)
{
	size_t start;

	if (!q || frame_begin(q, type, session, &start))
		return;
	if ((fields && buf_append(q, fields->data, fields->len)) || frame_finish(q, start))
		q->len = start;
}

void send_error(struct buf *q, uint16_t session, int code, const char *msg, int with_exit)
{
	struct buf f = { 0 };

	say("session %u: error %d: %s", session, code, msg);
	field_i32(&f, TAG_CODE, code);
	field_str(&f, TAG_MESSAGE, msg);
	send_frame(q, MSG_ERROR, session, &f);
	buf_free(&f);
	if (with_exit)
		send_exit(q, session, (code & 0xff) << 8);
}

void send_exit(struct buf *q, uint16_t session, int status)
{
	struct buf f = { 0 };

	if (WIFSIGNALED(status)) {
		field_i32(&f, TAG_CODE, 128 + WTERMSIG(status));
		field_u32(&f, TAG_SIGNAL, (uint32_t)WTERMSIG(status));
	} else {
		field_i32(&f, TAG_CODE, WEXITSTATUS(status));
	}
	send_frame(q, MSG_EXIT, session, &f);
	buf_free(&f);
}

static void send_started(struct buf *q, uint16_t session, pid_t pid)
{
	struct buf f = { 0 };

	field_u32(&f, TAG_PID, (uint32_t)pid);
	send_frame(q, MSG_STARTED, session, &f);
	buf_free(&f);
}

static void handle_hello(struct agent *a, int port)
{
	static const char *const states[] = { "booted", "running", "exited", "preparing", "prepared" };
	struct buf f = { 0 };

	/* a HELLO starts a connection: anything still owned by this port belongs to a client that
	 * is gone even if we never saw it disconnect */
	sessions_orphan(a, port);
	a->ports[port].hellos++;
	field_u32(&f, TAG_VERSION, PROTO_VERSION);
	field_str(&f, TAG_AGENT, AGENT_NAME);
	field_str(&f, TAG_STATE, states[a->state]);
	send_frame(port_queue(a, port), MSG_R_HELLO, 0, &f);
	buf_free(&f);
}

static int env_has(const struct request *r, const char *key)
{
	size_t i, n = strlen(key);

	for (i = 0; i < r->envc; i++)
		if (!strncmp(r->envp[i], key, n) && r->envp[i][n] == '=')
			return 1;
	return 0;
}

/* Append "key=value" to env unless the request sets key itself. */
static void env_default(char **env, size_t *n, const struct request *r, const char *key, const char *value)
{
	size_t len = strlen(key) + strlen(value) + 2;
	char *s;

	if (env_has(r, key) || !(s = malloc(len)))
		return;
	snprintf(s, len, "%s=%s", key, value);
	env[(*n)++] = s;
}

/* The process environment: the variables Docker always sets (the first *own entries, allocated
 * here) followed by the request's ENV. */
static char **build_env(const struct request *r, const struct user_ids *ids, const char *hostname,
			size_t *own)
{
	char **env = calloc(r->envc + 5, sizeof(char *));
	size_t n = 0, i;

	if (!env)
		return NULL;
	env_default(env, &n, r, "PATH", DEFAULT_PATH);
	env_default(env, &n, r, "HOSTNAME", hostname);
	if (r->tty)
		env_default(env, &n, r, "TERM", "xterm");
	env_default(env, &n, r, "HOME", ids->home);
	*own = n;
	for (i = 0; i < r->envc; i++)
		env[n++] = r->envp[i];
	return env;
}

static void free_env(char **env, size_t own)
{
	size_t i;

	for (i = 0; i < own; i++)
		free(env[i]);
	free(env);
}

/* Start the process of a RUN/EXEC (or PREPARE's warm-up). Returns 0; on failure sends ERROR + EXIT to q. */
int start_process(struct session *s, struct buf *q, const struct request *r, const char *hostname,
			 int writable)
{
	struct user_ids ids;
	struct spawn_opts o = { 0 };
	char msg[512];
	char **env;
	size_t own;
	int rootfd, err, code = 125;

	rootfd = open(NEWROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = rootfd < 0 ? -errno : user_resolve(rootfd, r->user, &ids, msg, sizeof(msg));
	if (rootfd < 0)
		snprintf(msg, sizeof(msg), "open `%s`: %s", NEWROOT, strerror(-err));
	else
		close(rootfd);
	if (err)
		goto fail;
	env = build_env(r, &ids, hostname, &own);
	if (!env) {
		err = -ENOMEM;
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	o.argv = r->argv;
	o.envp = env;
	o.cwd = r->cwd && *r->cwd ? r->cwd : "/";
	o.ids = &ids;
	o.tty = r->tty == 1;
	o.stdin_open = r->stdin_open == 1;
	o.writable = writable;
	o.rows = r->rows;
	o.cols = r->cols;
	err = spawn_process(&o, &s->c, &code, msg, sizeof(msg));
	free_env(env, own);
	if (err)
		goto fail;
	send_started(q, s->id, s->c.pid);
	return 0;
fail:
	send_error(q, s->id, code, msg, 1);
	return err;
}

static int check_request(const struct frame *f, struct request *r, char *msg, size_t size)
{
	const char *why;

	if (request_parse(f->payload, f->len, r, &why)) {
		snprintf(msg, size, "invalid request: %s", why);
		return -EBADMSG;
	}
	if (r->argc == 0 || !r->argv[0][0]) {
		snprintf(msg, size, "no command specified");
		request_free(r);
		return -EINVAL;
	}
	if (r->cwd && r->cwd[0] != '/') {
		snprintf(msg, size, "the working directory '%s' is invalid, it needs to be an absolute path", r->cwd);
		request_free(r);
		return -EINVAL;
	}
	return 0;
}

/* TIME_NS sets the guest clock; ENTROPY is added to the kernel's pool and forces a reseed. */
void set_clock_and_reseed(const struct request *r)
{
	struct timespec ts;
	int err;

	if (r->have & 1u << TAG_TIME_NS) {
		ts.tv_sec = (time_t)(r->time_ns / 1000000000u);
		ts.tv_nsec = (long)(r->time_ns % 1000000000u);
		if (clock_settime(CLOCK_REALTIME, &ts))
			say("set clock: %s", strerror(errno));
	}
	if (r->entropy_len && (err = entropy_add(r->entropy, r->entropy_len)))
		say("reseed the random number generator: %s", strerror(-err));
}

static void handle_run(struct agent *a, int port, const struct frame *f)
{
	struct buf *events = &a->ports[PORT_EVENTS].out;
	struct request r;
	struct session *s;
	const char *hostname;
	char msg[512];
	int prepared = a->state == STATE_PREPARED, err;

	if ((a->state != STATE_BOOTED && !prepared) || f->session != 0) {
		send_error(port_queue(a, port), f->session, 125,
			   f->session ? "RUN must use session 0"
			   : a->state == STATE_PREPARING ? "PREPARE is still in progress"
							 : "the main process was already started", 0);
		return;
	}
	a->state = STATE_RUNNING;
	s = session_new(a, OWNER_MAIN, 0);
	if (check_request(f, &r, msg, sizeof(msg))) {
		send_error(events, 0, 125, msg, 1);
		a->shutdown = 1;
		return;
	}
	/* a sandbox restored from a template shares its generator state with every other one
	 * restored from it until this reseed */
	set_clock_and_reseed(&r);
	hostname = r.hostname && *r.hostname ? r.hostname : "localhost";
	/* prepared: the root is mounted and the network set up, redo only what this RUN changes */
	err = sandbox_setup(a, &r, prepared, hostname, msg, sizeof(msg));
	if (err || volumes_mount(r.mounts, r.mountc, msg, sizeof(msg))) {
		send_error(events, 0, 125, msg, 1);
		a->shutdown = 1;
	} else if (start_process(s, events, &r, hostname, a->writable)) {
		a->shutdown = 1;
	}
	request_free(&r);
}

static void handle_exec(struct agent *a, int port, const struct frame *f)
{
	struct buf *q = port_queue(a, port);
	struct request r;
	struct session *s;
	char msg[512];

	if (f->session == 0) {
		send_error(q, 0, 125, "EXEC needs a session number from 1 to 65535", 0);
		return;
	}
	if (session_find(a, port, f->session)) {
		send_error(q, f->session, 125, "session already in use on this connection", 0);
		return;
	}
	if (a->state != STATE_RUNNING) {
		send_error(q, f->session, 125, "container is not running", 1);
		return;
	}
	if (check_request(f, &r, msg, sizeof(msg))) {
		send_error(q, f->session, 125, msg, 1);
		return;
	}
	s = session_new(a, port, f->session);
	if (!s)
		send_error(q, f->session, 125, "too many sessions", 1);
	else if (start_process(s, q, &r, a->hostname, a->writable))
		s->used = 0;
	request_free(&r);
}

static void handle_stdin(struct agent *a, int port, const struct frame *f)
{
	struct session *s = session_find(a, port, f->session);

	if (!s || s->c.in_fd < 0 || s->in_eof)
		return; /* exited, no stdin, or already closed: the bytes have no reader */
	if (f->len == 0)
		s->in_eof = 1;
	else if (buf_append(&s->in, f->payload, f->len))
		say("session %u: stdin dropped: out of memory", f->session);
	session_pump_input(s);
}

static void handle_kill(struct agent *a, int port, const struct frame *f)
{
	struct session *s = session_find(a, port, f->session);
	struct request r;
	const char *why;

	if (request_parse(f->payload, f->len, &r, &why)) {
		say("KILL for session %u ignored: %s", f->session, why);
		return;
	}
	if (!(r.have & 1u << TAG_SIGNAL) || r.signal < 1 || r.signal > 64)
		say("KILL for session %u ignored: SIGNAL missing or not in 1..64", f->session);
	else if (s && !s->exited && kill(s->c.pid, (int)r.signal))
		say("kill %d: %s", s->c.pid, strerror(errno));
	request_free(&r);
}

static void handle_resize(struct agent *a, int port, const struct frame *f)
{
	struct session *s = session_find(a, port, f->session);
	struct request r;
	const char *why;

	if (request_parse(f->payload, f->len, &r, &why)) {
		say("RESIZE for session %u ignored: %s", f->session, why);
		return;
	}
	if (s && s->c.tty && s->c.out_fd >= 0 && r.rows && r.cols && r.rows < 65536 && r.cols < 65536)
		pty_resize(s->c.out_fd, r.rows, r.cols);
	request_free(&r);
}

void handle_frame(struct agent *a, int port, const struct frame *f)
{
	switch (f->type) {
	case MSG_HELLO:
		handle_hello(a, port);
		break;
	case MSG_RUN:
		handle_run(a, port, f);
		break;
	case MSG_EXEC:
		handle_exec(a, port, f);
		break;
	case MSG_STDIN:
		handle_stdin(a, port, f);
		break;
	case MSG_KILL:
		handle_kill(a, port, f);
		break;
	case MSG_RESIZE:
		handle_resize(a, port, f);
		break;
	case MSG_REIDENTIFY:
		handle_reidentify(a, port, f);
		break;
	case MSG_PREPARE:
		handle_prepare(a, port, f);
		break;
	}
}
