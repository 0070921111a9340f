/* Sessions: the main process (0) and exec sessions (1..65535 of one ctl connection). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"
#include "shim.h"
#include "util.h"

#define READ_CHUNK 16384

struct session *session_find(struct shim *sh, int owner, uint16_t id)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];

		if (s->used && s->id == id && (id == 0 ? s->owner == OWNER_MAIN : s->owner == owner))
			return s;
	}
	return NULL;
}

struct session *session_new(struct shim *sh, int owner, uint16_t id)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];

		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->owner = owner;
		s->id = id;
		s->in_fd = s->out_fd = s->err_fd = s->status_fd = s->console = -1;
		return s;
	}
	return NULL;
}

/* Output frames: the log file for the main process, the connection for exec sessions. */
int session_output_to(const struct session *s)
{
	return s->owner == OWNER_MAIN ? TO_LOG : s->owner;
}

/* STARTED, ERROR, EXIT: events for the main process, the connection for exec sessions. */
int session_status_to(const struct session *s)
{
	return s->owner;
}

static void close_output(struct session *s, int fd)
{
	close(fd);
	if (s->tty) { /* the pty master is stdin too */
		s->in_fd = s->out_fd = -1;
		buf_free(&s->in);
		return;
	}
	if (fd == s->out_fd)
		s->out_fd = -1;
	else
		s->err_fd = -1;
}

void session_pump_output(struct shim *sh, struct session *s, int fd)
{
	/* room for the log port's timestamp in front of the bytes */
	uint8_t data[8 + READ_CHUNK];
	uint8_t type = fd == s->err_fd && !s->tty ? MSG_STDERR : MSG_STDOUT;
	int to = session_output_to(s);
	ssize_t n;

	n = read(fd, data + 8, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF, or EIO from a pty master whose slaves are all closed */
		close_output(s, fd);
		return;
	}
	if (to == TO_LOG) {
		put_u64(data, now_ns());
		emit(sh, to, type, s->id, data, (size_t)n + 8);
	} else {
		emit(sh, to, type, s->id, data + 8, (size_t)n);
	}
}

static void on_record(struct shim *sh, struct session *s, const struct init_msg *m)
{
	char msg[sizeof(m->msg)];

	switch (m->kind) {
	case INIT_STARTED:
		if (!s->started && !s->failed) {
			send_started(sh, session_status_to(s), s->id, s->pid);
			s->started = 1;
		}
		break;
	case INIT_FAILED:
		if (s->failed || s->started)
			break;
		memcpy(msg, m->msg, sizeof(msg));
		msg[sizeof(msg) - 1] = 0;
		s->code = m->code == 126 || m->code == 127 ? m->code : 125;
		s->failed = 1;
		send_error(sh, session_status_to(s), s->id, s->code, msg, 0);
		break;
	case INIT_EXITED:
		s->init_status_known = 1;
		s->init_status = m->status;
		break;
	}
}

/* The init's reports (main session). */
void session_pump_status(struct shim *sh, struct session *s)
{
	ssize_t n;

	n = read(s->status_fd, s->rec + s->rec_len, sizeof(struct init_msg) - s->rec_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(s->status_fd);
		s->status_fd = -1;
		return;
	}
	s->rec_len += (size_t)n;
	if (s->rec_len == sizeof(struct init_msg)) {
		struct init_msg m;

		memcpy(&m, s->rec, sizeof(m));
		on_record(sh, s, &m);
		s->rec_len = 0;
	}
}

static void close_input(struct session *s)
{
	struct termios t;
	char eof;

	buf_free(&s->in);
	s->in_eof = 0;
	if (s->tty) {
		/* a pty has no EOF of its own: type the VEOF character like a terminal would */
		eof = tcgetattr(s->in_fd, &t) ? 4 : (char)t.c_cc[VEOF];
		(void)!write(s->in_fd, &eof, 1);
		return;
	}
	close(s->in_fd);
	s->in_fd = -1;
}

void session_pump_input(struct session *s)
{
	ssize_t n;

	if (s->in_fd < 0)
		return;
	while (s->in.len) {
		n = write(s->in_fd, s->in.data, s->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* the process closed its stdin: drop what it will never read */
			buf_free(&s->in);
			s->in_eof = 0;
			if (!s->tty) {
				close(s->in_fd);
				s->in_fd = -1;
			}
			return;
		}
		buf_consume(&s->in, (size_t)n);
	}
	if (s->in_eof)
		close_input(s);
}

void session_signal(struct session *s, int sig)
{
	if (s->exited)
		return;
	if (s->pid <= 0) {
		/* still starting: deliver once the process exists (SIGKILL wins) */
		if (s->starter && s->pending_signal != SIGKILL)
			s->pending_signal = sig;
		return;
	}
	if (kill(s->pid, sig))
		say("session %u: kill %d %d: %s", s->id, (int)s->pid, sig, strerror(errno));
}

void session_resize(struct session *s, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	s->rows = rows;
	s->cols = cols;
	if (s->tty && s->out_fd >= 0 && ioctl(s->out_fd, TIOCSWINSZ, &ws))
		say("session %u: resize: %s", s->id, strerror(errno));
}

int orphan_take(struct shim *sh, pid_t pid, int *status)
{
	size_t i;

	for (i = 0; i < sh->norphans; i++) {
		if (sh->orphans[i].pid != pid)
			continue;
		*status = sh->orphans[i].status;
		sh->orphans[i] = sh->orphans[--sh->norphans];
		return 1;
	}
	return 0;
}

void session_reaped(struct shim *sh, pid_t pid, int status)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];

		if (!s->used)
			continue;
		if (s->starter == pid) {
			session_starter_exited(sh, s, status);
			return;
		}
		if (s->pid == pid && !s->exited) {
			s->exited = 1;
			s->status = status;
			return;
		}
	}
	/* runc exec'd the process and exited; we may reap the process before runc */
	if (sh->norphans == ORPHANS_MAX)
		memmove(sh->orphans, sh->orphans + 1, sizeof(sh->orphans) - sizeof(sh->orphans[0])), sh->norphans--;
	sh->orphans[sh->norphans++] = (struct reaped){ pid, status };
}

static int outputs_open(const struct session *s)
{
	return s->out_fd >= 0 || s->err_fd >= 0 || s->status_fd >= 0;
}

static void session_release(struct session *s)
{
	if (s->in_fd >= 0 && s->in_fd != s->out_fd)
		close(s->in_fd);
	if (s->out_fd >= 0)
		close(s->out_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	if (s->status_fd >= 0)
		close(s->status_fd);
	if (s->console >= 0)
		close(s->console);
	buf_free(&s->in);
	if (s->owner != OWNER_MAIN) {
		unlink(s->log);
		unlink(s->procjson);
	}
	s->used = 0;
}

/* Report sessions whose process is gone and whose output is read to the end. */
void session_finish_done(struct shim *sh)
{
	uint64_t now = mono_ms();
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];
		int status;

		if (!s->used || !s->exited || s->starter)
			continue;
		if (outputs_open(s) && s->owner == OWNER_MAIN) {
			/* the pid namespace is gone, so EOF is due at once; never hang on it */
			if (!s->drain_deadline)
				s->drain_deadline = now + DRAIN_MS;
			if (now < s->drain_deadline)
				continue;
			say("main process gone but its output is still open after %d ms: closing it", DRAIN_MS);
		} else if (outputs_open(s)) {
			continue;
		}
		status = s->failed ? s->code << 8 : s->init_status_known ? s->init_status : s->status;
		send_exit(sh, session_status_to(s), s->id, status);
		if (s->owner == OWNER_MAIN) {
			sh->state = STATE_EXITED;
			sh->linger_deadline = now + LINGER_MS;
		}
		session_release(s);
	}
}

/* The connection on `port` is gone: kill what it started, drop its output. */
void sessions_orphan(struct shim *sh, int port)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];

		if (!s->used || s->owner != port)
			continue;
		s->owner = TO_NONE;
		if (s->pid > 0 && !s->exited)
			kill(-s->pid, SIGKILL); /* runc made it a session (and group) leader */
		session_signal(s, SIGKILL);
	}
}
