/* What both modes parse and set up the same way. */
#ifndef NESTBOX_RTSHIM_COMMON_H
#define NESTBOX_RTSHIM_COMMON_H

#include "rtshim.h"

struct opts {
	const char *dir, *request, *console;
	char *keys[CTL_PORTS];
	unsigned boot_timeout_ms;
	int foreground; /* stay the runtime CLI's child (exec without --detach: it waits for us) */
	char **qemu; /* after `--` (vm mode): QEMU to start as our child */
	int qemu_pid; /* or a QEMU the runtime CLI started (restored from a template): watched by pidfd */
};

struct stdio {
	int in, out, err; /* in = -1: no stdin */
	int tty;          /* out == err == in == the pty slave */
};

/* Parse argv; 0 or -EINVAL. */
int opts_parse(struct opts *o, int argc, char **argv);
/* chdir to the sandbox, close what the caller leaked to us, open our diagnostics file, read
 * the request, set up stdio (and the console). Reports failures on the sync pipe. 0 or -errno. */
int setup_common(const struct opts *o, struct buf *request, struct stdio *io);
/* Signals we forward or act on, as a signalfd (blocked for us; the QEMU child unblocks them). */
int signals_setup(void);
void signals_restore_child(void);
/* Write guest output to fd; on a broken pipe, stop writing there (*fd = -1). */
void output_to(int *fd, const uint8_t *p, size_t n);

/* Read what the caller wrote to our stdin and pass it on as STDIN frames; EOF closes it (*in = -1). */
void relay_stdin(struct chan *ctl, uint16_t session, int *in);

#endif
