/* Starting a session: `runc run --detach` (main) or `runc exec --detach` (exec sessions) with
 * the shim as child subreaper, so the container's init / the exec'd process becomes our child
 * once runc is done: exact wait statuses, direct signals, no runc left running. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "init.h"
#include "shim.h"
#include "util.h"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* An abstract unix socket for --console-socket (no path length limit, nothing to clean up);
 * only the runc we started may use it (checked with SO_PEERCRED). */
static int console_listen(struct session *s, unsigned seq)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, err;

	snprintf(s->console_name, sizeof(s->console_name), "@nestbox-shim/%d/%u", (int)getpid(), seq);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path + 1, s->console_name + 1, strlen(s->console_name) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(s->console_name));
	if (bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 4)) {
		err = -errno;
		close(fd);
		return err;
	}
	s->console = fd;
	return 0;
}

/* The pty master runc sent (it is queued on the socket by the time runc has exited). */
static int console_receive(struct session *s, pid_t runc)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char name[256];
	struct iovec iov = { name, sizeof(name) };
	int c, fd;

	for (;;) {
		c = accept4(s->console, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return -errno;
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.pid != runc) {
			close(c);
			continue;
		}
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.space;
		mh.msg_controllen = sizeof(u.space);
		fd = -EPROTO;
		if (recvmsg(c, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) >= 0) {
			cm = CMSG_FIRSTHDR(&mh);
			if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		}
		close(c);
		return fd;
	}
}

static int prepare_files(struct shim *sh, struct session *s, const struct request *r, unsigned seq, char *msg,
			 size_t size)
{
	struct run_bundle rb = { sh->bundle, NULL, sh->exe, s->tty, s->rows, s->cols };
	char config[PATH_MAX + 16];
	struct stat st;

	if (s->owner != OWNER_MAIN) {
		if (fmt(s->log, sizeof(s->log), "%s/exec-%u-%u.log", sh->dir, s->id, seq) ||
		    fmt(s->pidfile, sizeof(s->pidfile), "%s/exec-%u-%u.pid", sh->dir, s->id, seq) ||
		    fmt(s->procjson, sizeof(s->procjson), "%s/exec-%u-%u.json", sh->dir, s->id, seq)) {
			snprintf(msg, size, "sandbox directory path too long");
			return -ENAMETOOLONG;
		}
		return bundle_write_exec(sh->bundle, s->procjson, r, msg, size);
	}
	if (fmt(s->log, sizeof(s->log), "%s/runc.log", sh->dir) ||
	    fmt(s->pidfile, sizeof(s->pidfile), "%s/runc.pid", sh->dir) ||
	    fmt(config, sizeof(config), "%s/config.json", sh->run_bundle)) {
		snprintf(msg, size, "sandbox directory path too long");
		return -ENAMETOOLONG;
	}
	s->log_from = stat(s->log, &st) ? 0 : st.st_size;
	if (mkdir(sh->run_bundle, 0700) && errno != EEXIST) {
		snprintf(msg, size, "mkdir `%s`: %s", sh->run_bundle, strerror(errno));
		return -errno;
	}
	rb.out = config;
	return bundle_write_run(&rb, msg, size);
}

/* Pipes (or the console socket) for the child; fds[] are runc's 0, 1, 2 (and 3: status). */
static int prepare_stdio(struct session *s, unsigned seq, int fds[4], char *msg, size_t size)
{
	int p[2], err;

	if (s->tty) {
		err = console_listen(s, seq);
		if (err)
			snprintf(msg, size, "console socket: %s", strerror(-err));
		fds[1] = fds[2] = 2; /* runc's own complaints go to the shim's stderr */
		return err;
	}
	if (s->stdin_open) {
		if (pipe2(p, O_CLOEXEC))
			goto fail;
		fds[0] = p[0];
		s->in_fd = p[1];
	}
	if (pipe2(p, O_CLOEXEC))
		goto fail;
	s->out_fd = p[0];
	fds[1] = p[1];
	if (pipe2(p, O_CLOEXEC))
		goto fail;
	s->err_fd = p[0];
	fds[2] = p[1];
	return 0;
fail:
	err = -errno;
	snprintf(msg, size, "pipe: %s", strerror(errno));
	return err;
}

int session_start(struct shim *sh, struct session *s, const struct request *r, char *msg, size_t size)
{
	int main = s->owner == OWNER_MAIN, fds[4] = { -1, -1, -1, -1 }, nfds = main ? 4 : 3, err, i, p[2];
	unsigned seq = ++sh->seq;
	char *argv[24];
	size_t n = 0;

	s->tty = r->tty == 1;
	s->stdin_open = r->stdin_open == 1;
	s->rows = r->rows;
	s->cols = r->cols;
	err = prepare_files(sh, s, r, seq, msg, size);
	if (!err)
		err = prepare_stdio(s, seq, fds, msg, size);
	if (!err && main) {
		if (pipe2(p, O_CLOEXEC)) {
			err = -errno;
			snprintf(msg, size, "pipe: %s", strerror(errno));
		} else {
			s->status_fd = p[0];
			fds[3] = p[1];
		}
	}
	if (err)
		goto out;
	unlink(s->pidfile);
	argv[n++] = (char *)sh->runc;
	argv[n++] = "--root";
	argv[n++] = (char *)sh->runc_root;
	argv[n++] = "--log";
	argv[n++] = s->log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	argv[n++] = main ? "run" : "exec";
	argv[n++] = "--detach";
	argv[n++] = "--pid-file";
	argv[n++] = s->pidfile;
	if (s->tty) {
		argv[n++] = "--console-socket";
		argv[n++] = s->console_name;
	}
	if (main) {
		argv[n++] = "--preserve-fds";
		argv[n++] = "1"; /* fd 3: the init's status pipe */
		argv[n++] = "--bundle";
		argv[n++] = sh->run_bundle;
	} else {
		argv[n++] = "--process";
		argv[n++] = s->procjson;
	}
	argv[n++] = (char *)sh->id;
	argv[n] = NULL;
	err = spawn(argv, fds, nfds, &s->starter, msg, size);
out:
	for (i = 0; i < 4; i++)
		if (fds[i] > 2)
			close(fds[i]);
	if (err) {
		s->starter = 0;
		close_fd(&s->in_fd);
		close_fd(&s->out_fd);
		close_fd(&s->err_fd);
		close_fd(&s->status_fd);
		close_fd(&s->console);
		return err;
	}
	for (i = 0; i < 4; i++) {
		int fd = i == 0 ? s->in_fd : i == 1 ? s->out_fd : i == 2 ? s->err_fd : s->status_fd;

		if (fd >= 0)
			set_nonblock(fd);
	}
	return 0;
}

static pid_t read_pid(const char *path)
{
	char text[32], *end;
	long v;

	if (read_file(path, 0, text, sizeof(text)) <= 0)
		return -1;
	v = strtol(text, &end, 10);
	return v > 0 && v < 0x7fffffff && (*end == 0 || *end == '\n') ? (pid_t)v : -1;
}

static void start_failed(struct shim *sh, struct session *s, int status)
{
	char msg[1024];
	int code = runc_error(s->log, s->log_from, msg, sizeof(msg));

	if (!code) {
		code = 125;
		if (WIFSIGNALED(status))
			snprintf(msg, sizeof(msg), "`%s %s` was killed by signal %d", sh->runc,
				 s->owner == OWNER_MAIN ? "run" : "exec", WTERMSIG(status));
		else
			snprintf(msg, sizeof(msg), "`%s %s` failed with status %d and logged no reason", sh->runc,
				 s->owner == OWNER_MAIN ? "run" : "exec", WEXITSTATUS(status));
	}
	send_error(sh, session_status_to(s), s->id, code, msg, 0);
	s->failed = 1;
	s->code = code;
	/* what is in the pipes is runc's own error text: the ERROR says it */
	close_fd(&s->in_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	close_fd(&s->status_fd);
	s->exited = 1;
	s->status = code << 8;
}

void session_starter_exited(struct shim *sh, struct session *s, int status)
{
	pid_t runc = s->starter, pid;
	int master = -1, st;

	s->starter = 0;
	pid = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? read_pid(s->pidfile) : -1;
	unlink(s->pidfile);
	if (pid > 0 && s->tty) {
		master = console_receive(s, runc);
		if (master < 0) {
			say("session %u: runc sent no pty master: %s", s->id, strerror(-master));
			kill(pid, SIGKILL);
			pid = -1;
		}
	}
	close_fd(&s->console);
	if (pid <= 0) {
		start_failed(sh, s, status);
		return;
	}
	s->pid = pid;
	if (master >= 0) {
		set_nonblock(master);
		s->in_fd = s->out_fd = master;
		if (s->rows && s->cols)
			session_resize(s, s->rows, s->cols);
	}
	if (orphan_take(sh, pid, &st)) {
		s->exited = 1;
		s->status = st;
	}
	if (s->owner != OWNER_MAIN) {
		/* runc exec has checked the program: it runs */
		send_started(sh, session_status_to(s), s->id, pid);
		s->started = 1;
	}
	if (s->owner == TO_NONE)
		kill(-pid, SIGKILL); /* its client left while it was starting */
	if (s->pending_signal) {
		session_signal(s, s->pending_signal);
		s->pending_signal = 0;
	}
}
