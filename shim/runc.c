/* Running runc: spawning it, reading why it failed from its JSON log, deleting the container. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "shim.h"
#include "util.h"

#define LOG_TAIL (64 * 1024)
#define DELETE_TIMEOUT_MS 10000

/* Child side of spawn: fds[i] becomes fd i (-1: /dev/null); every other fd is close-on-exec. */
static void exec_child(char *const argv[], const int fds[], int nfds, int report)
{
	int tmp[8], i, err;
	sigset_t none;

	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL); /* ignored signals would stay ignored in the container */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	umask(022);
	for (i = 0; i < nfds; i++) {
		tmp[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 16) : open("/dev/null", O_RDWR | O_CLOEXEC);
		if (tmp[i] < 0)
			goto fail;
	}
	for (i = 0; i < nfds; i++)
		if (dup2(tmp[i], i) < 0)
			goto fail;
	execvp(argv[0], argv);
fail:
	err = errno;
	(void)!write(report, &err, sizeof(err));
	_exit(127);
}

int spawn(char *const argv[], const int fds[], int nfds, pid_t *pid, char *msg, size_t size)
{
	int p[2], err = 0;
	ssize_t n;

	if (nfds > 8)
		return -EINVAL;
	if (pipe2(p, O_CLOEXEC)) {
		err = -errno;
		snprintf(msg, size, "spawn `%s`: pipe: %s", argv[0], strerror(errno));
		return err;
	}
	*pid = fork();
	if (*pid < 0) {
		err = -errno;
		snprintf(msg, size, "spawn `%s`: fork: %s", argv[0], strerror(errno));
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (*pid == 0)
		exec_child(argv, fds, nfds, p[1]);
	close(p[1]);
	do
		n = read(p[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == sizeof(err)) {
		waitpid(*pid, NULL, 0);
		snprintf(msg, size, "exec `%s`: %s", argv[0], strerror(err));
		return -err;
	}
	return 0;
}

/* The last error runc logged since offset `from` ("" when none). */
static void last_error(const char *log, off_t from, char *out, size_t size)
{
	char *text = malloc(LOG_TAIL + 1), *line, *nl;
	struct span obj, level, m;
	char lv[16];
	struct stat st;
	ssize_t n;

	out[0] = 0;
	if (!text)
		return;
	if (!stat(log, &st) && st.st_size - from > LOG_TAIL)
		from = st.st_size - LOG_TAIL;
	n = read_file(log, from, text, LOG_TAIL + 1);
	for (line = text; n > 0 && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		obj = (struct span){ line, nl + 1 };
		if (json_member(obj, "level", &level) || json_string(level, lv, sizeof(lv)) < 0 ||
		    (strcmp(lv, "error") && strcmp(lv, "fatal")) || json_member(obj, "msg", &m))
			continue;
		if (json_string(m, out, size) == -EBADMSG)
			snprintf(out, size, "runc failed (its log message is not readable)");
	}
	free(text);
}

static const char *strip(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) ? s : s + n;
}

int runc_error(const char *log, off_t from, char *msg, size_t size)
{
	char raw[1024];
	const char *m;

	last_error(log, from, raw, sizeof(raw));
	if (!raw[0])
		return 0;
	m = strip(raw, "runc run failed: ");
	m = strip(m, "runc exec failed: ");
	m = strip(m, "exec failed: ");
	m = strip(m, "unable to start container process: ");
	snprintf(msg, size, "%s", m);
	/* runc's LookPath of the program: `exec: "prog": ...` (other "no such file" errors are
	 * setup failures: mounts, cwd) */
	if (strncmp(m, "exec: \"", 7))
		return 125;
	if (strstr(m, "executable file not found") || strstr(m, "no such file or directory"))
		return 127;
	return 126;
}

int runc_delete(struct shim *sh)
{
	char *argv[] = { (char *)sh->runc, "--root", (char *)sh->runc_root, "delete", "--force", (char *)sh->id, NULL };
	int fds[3] = { -1, 2, 2 }, st, err;
	uint64_t deadline = mono_ms() + DELETE_TIMEOUT_MS;
	char msg[256];
	pid_t pid, w;

	err = spawn(argv, fds, 3, &pid, msg, sizeof(msg));
	if (err) {
		say("%s", msg);
		return err;
	}
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && mono_ms() < deadline)
		sleep_ms(2);
	if (w == 0) {
		say("`%s delete --force %s` did not finish within %d ms: killed", sh->runc, sh->id, DELETE_TIMEOUT_MS);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -ETIMEDOUT;
	}
	if (w < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		say("`%s delete --force %s` failed (see runc.log)", sh->runc, sh->id);
	return 0;
}
