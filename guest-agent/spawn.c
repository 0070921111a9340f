#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "mounts.h"
#include "spawn.h"
#include "util.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

struct failure {
	int32_t code;
	char msg[500];
};

int pty_resize(int master, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	return ioctl(master, TIOCSWINSZ, &ws) ? -errno : 0;
}

static int open_pty(unsigned rows, unsigned cols, int *master, int *slave)
{
	int unlock = 0, err;

	*master = open(NEWROOT "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (*master < 0)
		return -errno;
	if (ioctl(*master, TIOCSPTLCK, &unlock))
		goto fail;
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		goto fail;
	if (rows && cols && rows <= 0xffff && cols <= 0xffff)
		pty_resize(*master, rows, cols);
	return 0;
fail:
	err = -errno;
	close(*master);
	return err;
}

static const char *env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, key, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Child side: report why the process could not start, then exit with that code. */
static void die(int pipe_fd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

static void die(int pipe_fd, int code, const char *fmt, ...)
{
	struct failure f = { code, { 0 } };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f.msg, sizeof(f.msg), fmt, ap);
	va_end(ap);
	(void)!write(pipe_fd, &f, sizeof(f));
	_exit(code);
}

static void exec_error(int pipe_fd, const char *prog, const char *path, int err)
{
	if (err == ENOENT && !strchr(prog, '/'))
		die(pipe_fd, 127, "exec: \"%s\": executable file not found in $PATH", prog);
	if (err == ENOENT || err == ENOTDIR)
		die(pipe_fd, 127, "exec: \"%s\": stat %s: no such file or directory", prog, path);
	if (err == EACCES || err == EPERM || err == EISDIR)
		die(pipe_fd, 126, "exec: \"%s\": permission denied", prog);
	if (err == ENOEXEC)
		die(pipe_fd, 126, "exec: \"%s\": exec format error", prog);
	die(pipe_fd, 126, "exec: \"%s\": %s", prog, strerror(err));
}

/* PATH search like Go's exec.LookPath (what runc does): the first executable regular file. */
static void exec_path(int pipe_fd, char *const *argv, char *const *envp)
{
	const char *prog = argv[0], *path = env_get(envp, "PATH"), *p, *end;
	char full[4096];
	struct stat st;
	size_t dl;

	if (strchr(prog, '/')) {
		execve(prog, argv, envp);
		exec_error(pipe_fd, prog, prog, errno);
	}
	if (!*prog)
		exec_error(pipe_fd, prog, prog, ENOENT);
	for (p = path ? path : DEFAULT_PATH;; p = end + 1) {
		end = strchr(p, ':');
		dl = end ? (size_t)(end - p) : strlen(p);
		/* like Go's LookPath, skip entries that are missing or not executable files; found by
		 * stat, not by trying execve, which sets up a new address space for each miss */
		if (snprintf(full, sizeof(full), "%.*s/%s", (int)dl, dl ? p : ".", prog) < (int)sizeof(full) &&
		    !stat(full, &st) && !S_ISDIR(st.st_mode) && !access(full, X_OK)) {
			execve(full, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR && errno != EACCES)
				exec_error(pipe_fd, prog, full, errno);
		}
		if (!end)
			break;
	}
	exec_error(pipe_fd, prog, prog, ENOENT);
}

static void child(const struct spawn_opts *o, int fds[3], int slave, int pipe_fd)
{
	const struct user_ids *ids = o->ids;
	sigset_t none;
	int i;

	sigemptyset(&none);
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		die(pipe_fd, 125, "setsid: %s", strerror(errno));
	if (slave >= 0) {
		if (ioctl(slave, TIOCSCTTY, 0))
			die(pipe_fd, 125, "set controlling terminal: %s", strerror(errno));
		fds[0] = fds[1] = fds[2] = slave;
	}
	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			die(pipe_fd, 125, "dup2: %s", strerror(errno));
	if (chroot(NEWROOT) || chdir("/"))
		die(pipe_fd, 125, "chroot: %s", strerror(errno));
	if (o->writable && access(o->cwd, F_OK) && errno == ENOENT)
		mkdir_p(o->cwd, 0755);
	if (setgroups(ids->ngroups, ids->groups) || setgid(ids->gid) || setuid(ids->uid))
		die(pipe_fd, 125, "set user: %s", strerror(errno));
	if (chdir(o->cwd))
		die(pipe_fd, 125, "chdir to cwd (\"%s\"): %s", o->cwd, strerror(errno));
	exec_path(pipe_fd, o->argv, o->envp);
}

struct child_args {
	const struct spawn_opts *o;
	int fds[3], slave, pipe_fd;
};

/*
 * The child shares the agent's memory until it execs or exits (CLONE_VM | CLONE_VFORK, as
 * posix_spawn does), so it runs on a stack of its own and writes nothing of the agent's but
 * errno. No copy of the agent's address space is made and torn down again at every start:
 * under TCG those kernel paths are code a restored sandbox would translate at its first RUN.
 * One process starts at a time (the agent has one thread), so one stack serves.
 */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static int child_main(void *p)
{
	struct child_args *a = p;

	child(a->o, a->fds, a->slave, a->pipe_fd);
	return 125; /* not reached: child() execs or exits */
}

/* Signals stay blocked in the agent until the child has reset its handlers (inherited, but the
 * agent's handlers must never run on the shared memory in the child). */
static pid_t start_child(struct child_args *a)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_main, child_stack + sizeof(child_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, a);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

static void close_all(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int spawn_process(const struct spawn_opts *o, struct child *c, int *code, char *msg, size_t size)
{
	/* p: stdin r/w, stdout r/w, stderr r/w, status r/w */
	int p[8] = { -1, -1, -1, -1, -1, -1, -1, -1 }, master = -1, slave = -1, fds[3] = { -1, -1, -1 }, err, st;
	struct failure f;
	ssize_t n;
	pid_t pid;

	*code = 125;
	if (pipe2(p + 6, O_CLOEXEC))
		goto fail_errno;
	if (o->tty) {
		err = open_pty(o->rows, o->cols, &master, &slave);
		if (err) {
			snprintf(msg, size, "open pty: %s", strerror(-err));
			close_all(p, 8);
			return err;
		}
	} else {
		if (o->stdin_open ? pipe2(p, O_CLOEXEC)
				  : (p[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			goto fail_errno;
		if (pipe2(p + 2, O_CLOEXEC) || pipe2(p + 4, O_CLOEXEC))
			goto fail_errno;
		fds[0] = p[0];
		fds[1] = p[3];
		fds[2] = p[5];
	}
	/* p[6], the status pipe's read end, is close-on-exec: the child does not hold it open */
	struct child_args args = { .o = o, .fds = { fds[0], fds[1], fds[2] }, .slave = slave, .pipe_fd = p[7] };
	pid = start_child(&args);
	if (pid < 0)
		goto fail_errno;
	close(p[7]);
	p[7] = -1;
	n = read(p[6], &f, sizeof(f));
	while (n < 0 && errno == EINTR)
		n = read(p[6], &f, sizeof(f));
	close(p[6]);
	p[6] = -1;
	if (n > 0) {
		waitpid(pid, &st, 0);
		f.msg[sizeof(f.msg) - 1] = 0;
		*code = n == sizeof(f) ? f.code : 125;
		snprintf(msg, size, "%s", n == sizeof(f) ? f.msg : "process setup failed");
		close_all(p, 8);
		if (master >= 0) {
			close(master);
			close(slave);
		}
		return -ENOEXEC;
	}
	c->pid = pid;
	c->tty = o->tty;
	if (o->tty) {
		close(slave);
		c->in_fd = c->out_fd = master;
		c->err_fd = -1;
	} else {
		close(p[0]);
		close(p[3]);
		close(p[5]);
		c->in_fd = o->stdin_open ? p[1] : -1;
		c->out_fd = p[2];
		c->err_fd = p[4];
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		fcntl(p[2], F_SETFL, O_NONBLOCK);
		fcntl(p[4], F_SETFL, O_NONBLOCK);
	}
	return 0;
fail_errno:
	err = -errno;
	snprintf(msg, size, "create process: %s", strerror(errno));
	close_all(p, 8);
	if (master >= 0) {
		close(master);
		close(slave);
	}
	return err;
}
