/* nestbox-shim --dir D --bundle B --id ID --runc RUNC --runc-root R
 *
 * Process isolation's sandbox monitor: runs the container with runc and serves the guest
 * protocol on D/ctl-N.sock, D/log and D/events, as QEMU and the guest agent do for a VM. It
 * lives exactly as long as the sandbox. Run as `INIT_PATH --init CMD...` it is the container's
 * PID 1 instead (init.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "init.h"
#include "shim.h"
#include "util.h"

#define TERM_TIMEOUT_MS 10000
#define MAX_POLL (1 + CTL_PORTS + 4 * MAX_SESSIONS)

enum slot_kind { SLOT_SIGNAL, SLOT_LISTEN, SLOT_CLIENT, SLOT_OUTPUT, SLOT_STATUS, SLOT_INPUT };

struct slot {
	enum slot_kind kind;
	int index; /* port or session index */
	int fd;
};

static uint64_t term_deadline;

static int parse_args(struct shim *sh, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },   { "bundle", required_argument, NULL, 'b' },
		{ "id", required_argument, NULL, 'i' },    { "runc", required_argument, NULL, 'r' },
		{ "runc-root", required_argument, NULL, 'R' }, { "version", no_argument, NULL, 'V' },
		{ "overlay", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': sh->dir = optarg; break;
		case 'b': sh->bundle = optarg; break;
		case 'i': sh->id = optarg; break;
		case 'r': sh->runc = optarg; break;
		case 'R': sh->runc_root = optarg; break;
		case 'o': sh->lower = optarg; break;
		case 'V': printf("%s\n", SHIM_NAME); return 1;
		default: return -EINVAL;
		}
	}
	if (optind != argc || !sh->dir || !sh->bundle || !sh->id || !sh->runc || !sh->runc_root || !*sh->id)
		return -EINVAL;
	return 0;
}

static int absolute(const char *in, const char **out)
{
	char *p = realpath(in, NULL);

	if (!p)
		return -errno;
	*out = p; /* lives as long as the process */
	return 0;
}

static int setup_signals(struct shim *sh)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	sh->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return sh->sigfd < 0 ? -errno : 0;
}

static int open_append(const char *name)
{
	return open(name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
}

static int setup(struct shim *sh)
{
	char msg[512];
	ssize_t n;
	int err, i;

	for (i = 0; i < CTL_PORTS; i++)
		sh->ctl[i].lfd = sh->ctl[i].fd = -1;
	sh->log_fd = sh->events_fd = sh->sigfd = -1;
	if ((err = absolute(sh->dir, &sh->dir)) || chdir(sh->dir)) {
		say("sandbox directory `%s`: %s", sh->dir, strerror(err ? -err : errno));
		return -ENOENT;
	}
	if ((err = absolute(sh->bundle, &sh->bundle))) {
		say("bundle `%s`: %s", sh->bundle, strerror(-err));
		return err;
	}
	absolute(sh->runc_root, &sh->runc_root); /* runc creates it when missing */
	if (sh->lower && (err = absolute(sh->lower, &sh->lower))) {
		say("image rootfs `%s`: %s", sh->lower, strerror(-err));
		return err;
	}
	n = readlink("/proc/self/exe", sh->exe, sizeof(sh->exe) - 1);
	if (n < 0) {
		say("readlink /proc/self/exe: %s", strerror(errno));
		return -errno;
	}
	sh->exe[n] = 0;
	if (fmt(sh->run_bundle, sizeof(sh->run_bundle), "%s/shim-bundle", sh->dir))
		return -ENAMETOOLONG;
	if ((err = setup_signals(sh))) {
		say("signals: %s", strerror(-err));
		return err;
	}
	/* the container's init and exec'd processes become our children when runc exits */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		say("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return -errno;
	}
	sh->log_fd = open_append("log");
	sh->events_fd = open_append("events");
	if (sh->log_fd < 0 || sh->events_fd < 0) {
		say("open `%s/log`, `%s/events`: %s", sh->dir, sh->dir, strerror(errno));
		return -errno;
	}
	if ((err = rootfs_mount(sh)))
		return err;
	if ((err = ctl_listen(sh, msg, sizeof(msg)))) {
		say("%s", msg);
		return err;
	}
	return 0;
}

static void send_ready(struct shim *sh)
{
	struct buf f = { 0 };

	field_str(&f, TAG_AGENT, SHIM_NAME);
	send_fields(sh, TO_EVENTS, MSG_READY, 0, &f);
	buf_free(&f);
}

static void reap(struct shim *sh)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		session_reaped(sh, pid, status);
}

/* SIGTERM: kill the container; the usual path then reports its EXIT and ends the shim. */
static void terminate(struct shim *sh)
{
	struct session *main = session_find(sh, OWNER_MAIN, 0);

	if (!sh->terminating)
		say("SIGTERM: killing the container");
	sh->terminating = 1;
	if (!term_deadline)
		term_deadline = mono_ms() + TERM_TIMEOUT_MS;
	if (main)
		session_signal(main, SIGKILL);
	else if (sh->state == STATE_BOOTED)
		sh->quit = 1;
}

static void on_signal(struct shim *sh)
{
	struct signalfd_siginfo si;

	while (read(sh->sigfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGTERM)
			terminate(sh);
	reap(sh);
}

/* A ctl client is not read while the stdin it feeds is backed up. */
static int port_stalled(const struct shim *sh, int port)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		const struct session *s = &sh->sessions[i];

		if (s->used && (s->owner == port || s->owner == OWNER_MAIN) && s->in.len > QUEUE_HIGH)
			return 1;
	}
	return 0;
}

static size_t add(struct pollfd *pfd, struct slot *slot, size_t n, enum slot_kind kind, int index, int fd,
		  short events)
{
	pfd[n] = (struct pollfd){ .fd = fd, .events = events };
	slot[n] = (struct slot){ kind, index, fd };
	return n + 1;
}

static size_t build_poll(struct shim *sh, struct pollfd *pfd, struct slot *slot)
{
	size_t n = 0, i;
	int to;

	n = add(pfd, slot, n, SLOT_SIGNAL, 0, sh->sigfd, POLLIN);
	for (i = 0; i < CTL_PORTS; i++) {
		struct ctl *c = &sh->ctl[i];

		if (c->fd < 0)
			n = add(pfd, slot, n, SLOT_LISTEN, (int)i, c->lfd, POLLIN);
		else
			n = add(pfd, slot, n, SLOT_CLIENT, (int)i, c->fd,
				(short)((c->out.len ? POLLOUT : 0) | (port_stalled(sh, (int)i) ? 0 : POLLIN)));
	}
	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sh->sessions[i];

		if (!s->used || s->starter)
			continue; /* output waits until STARTED/ERROR is known */
		to = session_output_to(s);
		if (to < 0 || sh->ctl[to].out.len < QUEUE_HIGH) {
			if (s->out_fd >= 0)
				n = add(pfd, slot, n, SLOT_OUTPUT, (int)i, s->out_fd, POLLIN);
			if (s->err_fd >= 0)
				n = add(pfd, slot, n, SLOT_OUTPUT, (int)i, s->err_fd, POLLIN);
		}
		if (s->status_fd >= 0)
			n = add(pfd, slot, n, SLOT_STATUS, (int)i, s->status_fd, POLLIN);
		if (s->in_fd >= 0 && (s->in.len || s->in_eof))
			n = add(pfd, slot, n, SLOT_INPUT, (int)i, s->in_fd, POLLOUT);
	}
	return n;
}

static void dispatch(struct shim *sh, const struct pollfd *pfd, const struct slot *slot, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct session *s = &sh->sessions[slot[i].index];

		if (!pfd[i].revents)
			continue;
		if (slot[i].kind == SLOT_SIGNAL)
			on_signal(sh);
		else if (slot[i].kind == SLOT_OUTPUT && s->used && (s->out_fd == slot[i].fd || s->err_fd == slot[i].fd))
			session_pump_output(sh, s, slot[i].fd);
		else if (slot[i].kind == SLOT_STATUS && s->used && s->status_fd == slot[i].fd)
			session_pump_status(sh, s);
		else if (slot[i].kind == SLOT_INPUT && s->used && s->in_fd == slot[i].fd)
			session_pump_input(s);
	}
	/* ports last: their requests may start processes and reuse closed fd numbers */
	for (i = 0; i < n; i++) {
		struct ctl *c = &sh->ctl[slot[i].index];

		if (!pfd[i].revents)
			continue;
		if (slot[i].kind == SLOT_LISTEN && c->fd < 0)
			ctl_accept(sh, slot[i].index);
		if (slot[i].kind != SLOT_CLIENT || c->fd != slot[i].fd)
			continue;
		if (pfd[i].revents & POLLOUT)
			ctl_flush(sh, slot[i].index);
		if (c->fd == slot[i].fd && pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			ctl_read(sh, slot[i].index);
	}
}

static int starting(const struct shim *sh)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (sh->sessions[i].used && sh->sessions[i].starter)
			return 1;
	return 0;
}

/* After the main EXIT: leave once exec sessions have reported and clients have their bytes. */
static int finished(const struct shim *sh, uint64_t now)
{
	size_t i;

	if (term_deadline && now >= term_deadline) {
		say("the container did not exit within %d ms of SIGTERM: leaving anyway", TERM_TIMEOUT_MS);
		return 1;
	}
	if (sh->state != STATE_EXITED)
		return 0;
	if (now >= sh->linger_deadline)
		return 1;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (sh->sessions[i].used)
			return 0;
	for (i = 0; i < CTL_PORTS; i++)
		if (sh->ctl[i].fd >= 0 && sh->ctl[i].out.len)
			return 0;
	return 1;
}

static int poll_timeout(const struct shim *sh, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	if (term_deadline)
		next = term_deadline;
	if (sh->state == STATE_EXITED && sh->linger_deadline < next)
		next = sh->linger_deadline;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (sh->sessions[i].used && sh->sessions[i].drain_deadline && sh->sessions[i].drain_deadline < next)
			next = sh->sessions[i].drain_deadline;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now) + 1;
}

static void serve(struct shim *sh)
{
	static struct pollfd pfd[MAX_POLL];
	static struct slot slot[MAX_POLL];
	size_t n, i;

	while (!sh->quit) {
		n = build_poll(sh, pfd, slot);
		if (poll(pfd, n, poll_timeout(sh, mono_ms())) < 0) {
			if (errno != EINTR)
				say("poll: %s", strerror(errno));
			continue;
		}
		dispatch(sh, pfd, slot, n);
		session_finish_done(sh);
		if (!starting(sh))
			sh->norphans = 0; /* nothing can claim them any more */
		for (i = 0; i < CTL_PORTS; i++) {
			if (sh->ctl[i].drop)
				ctl_disconnect(sh, (int)i);
			else
				ctl_flush(sh, (int)i);
		}
		if (finished(sh, mono_ms()))
			sh->quit = 1;
	}
}

static void teardown(struct shim *sh)
{
	char path[PATH_MAX + 16];

	if (sh->state != STATE_BOOTED)
		runc_delete(sh); /* kills whatever is left of the container */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	rootfs_unmount(sh);
	ctl_close_all(sh);
	if (!fmt(path, sizeof(path), "%s/config.json", sh->run_bundle))
		unlink(path);
	rmdir(sh->run_bundle);
	unlink("runc.pid");
	if (sh->log_fd >= 0)
		close(sh->log_fd);
	if (sh->events_fd >= 0)
		close(sh->events_fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: nestbox-shim --dir D --bundle B --id ID --runc RUNC --runc-root R [--overlay IMAGE_ROOTFS]\n"
			"       " INIT_PATH " " INIT_FLAG " COMMAND [ARG...]   (inside the container)\n");
}

int main(int argc, char **argv)
{
	static struct shim sh;
	int r;

	if (argc >= 2 && !strcmp(argv[1], INIT_FLAG))
		return init_main(argv + 2);
	r = parse_args(&sh, argc, argv);
	if (r) {
		if (r < 0)
			usage();
		return r < 0 ? 2 : 0;
	}
	if (setup(&sh)) {
		ctl_close_all(&sh);
		rootfs_unmount(&sh);
		return 1;
	}
	say("%s: sandbox `%s`, container %s", SHIM_NAME, sh.dir, sh.id);
	send_ready(&sh);
	serve(&sh);
	teardown(&sh);
	return 0;
}
