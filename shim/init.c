#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "init.h"
#include "util.h"

extern char **environ;

static void report(int fd, uint8_t kind, int code, int status, const char *msg)
{
	struct init_msg m;

	if (fd < 0)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.code = code;
	m.status = status;
	snprintf(m.msg, sizeof(m.msg), "%s", msg ? msg : "");
	(void)!write(fd, &m, sizeof(m));
}

/* Child side: say why the command cannot run (Docker's/runc's wording), then give up. */
static void fail(int fd, int code, const char *f, ...) __attribute__((format(printf, 3, 4), noreturn));

static void fail(int fd, int code, const char *f, ...)
{
	struct init_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.kind = INIT_FAILED;
	m.code = code;
	va_start(ap, f);
	vsnprintf(m.msg, sizeof(m.msg), f, ap);
	va_end(ap);
	(void)!write(fd, &m, sizeof(m));
	_exit(code);
}

static void exec_error(int fd, const char *prog, const char *path, int err)
{
	if (err == ENOENT && !strchr(prog, '/'))
		fail(fd, 127, "exec: \"%s\": executable file not found in $PATH", prog);
	if (err == ENOENT || err == ENOTDIR)
		fail(fd, 127, "exec: \"%s\": stat %s: no such file or directory", prog, path);
	if (err == EACCES || err == EPERM || err == EISDIR)
		fail(fd, 126, "exec: \"%s\": permission denied", prog);
	if (err == ENOEXEC)
		fail(fd, 126, "exec: \"%s\": exec format error", prog);
	fail(fd, 126, "exec: \"%s\": %s", prog, strerror(err));
}

/* PATH search like Go's exec.LookPath (what runc and the guest agent do). */
static void exec_path(int fd, char *const *argv)
{
	const char *prog = argv[0], *path = getenv("PATH"), *p, *end;
	char full[4096];
	size_t dl;

	if (strchr(prog, '/')) {
		execve(prog, argv, environ);
		exec_error(fd, prog, prog, errno);
	}
	if (!*prog)
		exec_error(fd, prog, prog, ENOENT);
	for (p = path ? path : DEFAULT_PATH;; p = end + 1) {
		end = strchr(p, ':');
		dl = end ? (size_t)(end - p) : strlen(p);
		if (!fmt(full, sizeof(full), "%.*s/%s", (int)dl, dl ? p : ".", prog)) {
			execve(full, argv, environ);
			if (errno != ENOENT && errno != ENOTDIR && errno != EACCES)
				exec_error(fd, prog, full, errno);
		}
		if (!end)
			break;
	}
	exec_error(fd, prog, prog, ENOENT);
}

static void child(char **argv, int fd)
{
	sigset_t none;
	int i;

	/* its own process group, in the foreground of the terminal: ^C reaches it, not PID 1 */
	setpgid(0, 0);
	if (isatty(0))
		tcsetpgrp(0, getpid()); /* SIGTTOU is still blocked here */
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	exec_path(fd, argv);
}

static int exit_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Forward signals to the command and reap everything until the command exits. */
static int supervise(pid_t pid, const sigset_t *all, int status_fd)
{
	siginfo_t si;
	pid_t w;
	int sig, st;

	for (;;) {
		sig = sigwaitinfo(all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(pid, sig);
			continue;
		}
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w != pid)
				continue;
			report(status_fd, INIT_EXITED, 0, st, NULL);
			return exit_code(st);
		}
	}
}

int init_main(char **argv)
{
	int status_fd = fcntl(INIT_STATUS_FD, F_SETFD, FD_CLOEXEC) ? -1 : INIT_STATUS_FD;
	struct init_msg m;
	sigset_t all;
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (!argv[0]) {
		report(status_fd, INIT_FAILED, 125, 0, "no command specified");
		return 125;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (pipe2(p, O_CLOEXEC)) {
		report(status_fd, INIT_FAILED, 125, 0, "init: pipe failed");
		return 125;
	}
	pid = fork();
	if (pid < 0) {
		report(status_fd, INIT_FAILED, 125, 0, "init: fork failed");
		return 125;
	}
	if (pid == 0) {
		close(p[0]);
		child(argv, p[1]);
	}
	close(p[1]);
	do
		n = read(p[0], &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n > 0) {
		waitpid(pid, &st, 0);
		m.msg[sizeof(m.msg) - 1] = 0;
		if (n != sizeof(m))
			m.code = 125;
		report(status_fd, INIT_FAILED, m.code, 0, n == sizeof(m) ? m.msg : "init: the command failed to start");
		return m.code;
	}
	report(status_fd, INIT_STARTED, 0, 0, NULL);
	return supervise(pid, &all, status_fd);
}
