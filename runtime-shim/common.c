#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGALRM };

int opts_parse(struct opts *o, int argc, char **argv)
{
	static const struct option spec[] = {
		{ "dir", required_argument, NULL, 'd' },	    { "locks", required_argument, NULL, 'l' },
		{ "request", required_argument, NULL, 'r' },	    { "console-socket", required_argument, NULL, 'c' },
		{ "boot-timeout-ms", required_argument, NULL, 't' }, { "foreground", no_argument, NULL, 'f' },
		{ "qemu-pid", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	char *save = NULL, *k;
	int c, i;

	memset(o, 0, sizeof(*o));
	o->boot_timeout_ms = 120000;
	while ((c = getopt_long(argc, argv, "+", spec, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'r': o->request = optarg; break;
		case 'c': o->console = optarg; break;
		case 'f': o->foreground = 1; break;
		case 'q': o->qemu_pid = (int)strtol(optarg, NULL, 10); break;
		case 't': o->boot_timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l':
			for (i = 0, k = strtok_r(optarg, ",", &save); k && i < CTL_PORTS; k = strtok_r(NULL, ",", &save))
				o->keys[i++] = k;
			if (i != CTL_PORTS)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	o->qemu = optind < argc ? argv + optind : NULL;
	return o->dir && o->request && o->keys[0] ? 0 : -EINVAL;
}

/* Fork once more and let the parent go: the runtime CLI that started us is then not our parent,
 * so it cannot reap us; we are reparented to the caller (conmon and containerd's shim are child
 * subreapers) and it collects our exit status even when the workload ends before the CLI does.
 * In our own session, so that a pty can become our controlling terminal. */
static int detach_from_cli(int foreground)
{
	pid_t pid;

	if (!foreground) {
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid > 0)
			_exit(0);
	}
	if (setsid() < 0 && getsid(0) != getpid())
		return -errno;
	return 0;
}

int setup_common(const struct opts *o, struct buf *request, struct stdio *io)
{
	char msg[512];
	int fd, err;

	fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC);
	if ((err = detach_from_cli(o->foreground))) {
		sync_report("error 125 fork: %s", strerror(-err));
		return err;
	}
	/* the caller may leak its own fds to us (conmon does); the workload must not hold them */
	syscall(SYS_close_range, SYNC_FD + 1, ~0U, 0);
	if (chdir(o->dir)) {
		sync_report("error 125 sandbox directory `%s`: %s", o->dir, strerror(errno));
		return -errno;
	}
	fd = open("shim.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	note_to(fd);
	err = read_whole(o->request, request, 2 * (FRAME_HEADER + FRAME_MAX_PAYLOAD));
	unlink(o->request); /* it carries the guest's entropy: read once */
	if (err) {
		sync_report("error 125 request `%s`: %s", o->request, strerror(-err));
		return err;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o->console) {
		fd = console_setup(o->console, msg, sizeof(msg));
		if (fd < 0) {
			sync_report("error 125 %s", msg);
			return fd;
		}
		*io = (struct stdio){ fd, fd, fd, 1 };
		return 0;
	}
	*io = (struct stdio){ is_dev_null(0) ? -1 : 0, 1, 2, 0 };
	stdio_blocking(1);
	stdio_blocking(2);
	return 0;
}

int signals_setup(void)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void signals_restore_child(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

void output_to(int *fd, const uint8_t *p, size_t n)
{
	if (*fd < 0 || !n)
		return;
	if (write_all(*fd, p, n)) {
		note("output fd %d: %s; dropping further output there", *fd, strerror(errno));
		*fd = -1;
	}
}

void relay_stdin(struct chan *ctl, uint16_t session, int *in)
{
	uint8_t chunk[FRAME_MAX_PAYLOAD];
	ssize_t n = read(*in, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		send_stdin(ctl, session, chunk, (size_t)n);
		return;
	}
	send_stdin(ctl, session, NULL, 0); /* EOF (or the terminal went away) */
	*in = -1;
}
