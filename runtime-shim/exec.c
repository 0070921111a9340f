/* exec mode: one exec session (session 1 on a ctl port of our own). Send EXEC, say `started PID`
 * or `error CODE MESSAGE` on the sync pipe, relay stdio and signals, exit as the process did. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common.h"

#define SESSION 1
#define PORT_WAIT_MS 30000

struct ex {
	struct stdio io;
	struct chan ctl;
	int reported, exited, code, sig, error_code;
	char error[512];
};

static void on_frame(struct ex *x, const struct frame *f)
{
	uint32_t v;

	if (f->session != SESSION)
		return;
	switch (f->type) {
	case MSG_STDOUT:
		output_to(&x->io.out, f->payload, f->len);
		break;
	case MSG_STDERR:
		output_to(x->io.tty ? &x->io.out : &x->io.err, f->payload, f->len);
		break;
	case MSG_STARTED:
		if (!x->reported && !frame_u32(f, TAG_PID, &v)) {
			sync_report("started %d %u", (int)getpid(), v);
			x->reported = 1;
		}
		break;
	case MSG_ERROR:
		x->error_code = !frame_u32(f, TAG_CODE, &v) && v >= 125 && v <= 127 ? (int)v : 125;
		if (frame_str(f, TAG_MESSAGE, x->error, sizeof(x->error)))
			snprintf(x->error, sizeof(x->error), "the guest could not start the process");
		break;
	case MSG_EXIT:
		x->exited = 1;
		x->code = !frame_u32(f, TAG_CODE, &v) && v <= 255 ? (int)v : 255;
		x->sig = !frame_u32(f, TAG_SIGNAL, &v) && v >= 1 && v <= 64 ? (int)v : 0;
		break;
	}
}

static void on_signals(struct ex *x, int sigfd)
{
	struct signalfd_siginfo si;
	unsigned rows, cols;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (si.ssi_signo == SIGWINCH) {
			if (x->io.tty) {
				console_size(x->io.out, &rows, &cols);
				if (rows && cols)
					send_resize(&x->ctl, SESSION, rows, cols);
			}
			continue;
		}
		send_kill(&x->ctl, SESSION, (int)si.ssi_signo);
	}
}

/* Returns 0 while the session lives, 1 when it ended, -1 when the sandbox went away. */
static int on_ctl(struct ex *x)
{
	struct frame f;
	int r;

	if (chan_fill(&x->ctl))
		return -1;
	while ((r = chan_frame(&x->ctl, &f)) > 0) {
		on_frame(x, &f);
		buf_consume(&x->ctl.in, (size_t)r);
	}
	if (r < 0) {
		note("malformed frame from the guest on ctl-%d", x->ctl.port);
		return -1;
	}
	return x->exited;
}

int exec_main(int argc, char **argv)
{
	static struct ex x;
	static const int ports[] = { 1, 2, 3 };
	struct buf request = { 0 };
	struct pollfd p[3];
	unsigned rows = 0, cols = 0;
	struct opts o;
	int sigfd, err, r = 0;

	if (opts_parse(&o, argc, argv)) {
		sync_report("error 125 nestbox-runtime-shim exec: bad arguments");
		return 2;
	}
	if (setup_common(&o, &request, &x.io))
		return 125;
	if ((sigfd = signals_setup()) < 0) {
		sync_report("error 125 signalfd: %s", strerror(-sigfd));
		return 125;
	}
	err = chan_open(&x.ctl, o.keys, ports, 3, PORT_WAIT_MS, NULL);
	if (err) {
		sync_report("error 125 no free guest channel port within %d s (too many exec sessions at once, or the container stopped)", PORT_WAIT_MS / 1000);
		return 125;
	}
	if (x.io.tty)
		console_size(x.io.out, &rows, &cols);
	if ((err = chan_hello(&x.ctl, 10000)) || (err = send_request(&x.ctl, &request, 0, x.io.in >= 0, rows, cols))) {
		sync_report("error 125 the guest channel failed: %s", strerror(-err));
		return 125;
	}
	while (r == 0) {
		p[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = x.ctl.fd, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = x.reported ? x.io.in : -1, .events = POLLIN };
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			on_signals(&x, sigfd);
		if (p[1].revents)
			r = on_ctl(&x);
		if (r == 0 && p[2].revents && x.io.in >= 0)
			relay_stdin(&x.ctl, SESSION, &x.io.in);
	}
	if (!x.reported) {
		if (x.error_code)
			sync_report("error %d %s", x.error_code, x.error);
		else
			sync_report("error 125 the container stopped before the process started");
	}
	if (r < 0) {
		note("exec session: the sandbox went away");
		return 255;
	}
	exit_like(x.code, x.sig);
}
