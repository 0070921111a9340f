/* nestbox-runtime-shim: for one VM container (`vm` mode) or one exec session (`exec` mode), the
 * host process whose pid goes into the caller's pid file. It holds the stdio the caller passed
 * (or a pty whose master went to --console-socket), relays it over the guest protocol
 * (docs/guest-protocol.md) and exits with the workload's exit code, or dies by its signal. */
#ifndef NESTBOX_RTSHIM_H
#define NESTBOX_RTSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../guest-agent/clock.h"
#include "../guest-agent/frame.h"
#include "../shim/util.h" /* write_all, fmt */

#ifndef RTSHIM_VERSION
#define RTSHIM_VERSION "0.0.0"
#endif
#define CTL_PORTS 4
#define SYNC_FD 3

/* util.c */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note_to(int fd);
int read_whole(const char *path, struct buf *out, size_t max);
/* Tell the runtime CLI how set-up went (one line on SYNC_FD), then close it. */
void sync_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit with the workload's status: die by `sig` when it was killed, else exit(code). */
void exit_like(int code, int sig) __attribute__((noreturn));
int unix_connect(const char *path);
/* The stdio the caller handed us: blocking, so a full pipe slows the workload instead of losing bytes. */
void stdio_blocking(int fd);
/* Is fd /dev/null (a caller's way of saying "no stdin")? */
int is_dev_null(int fd);

/* chan.c: one ctl port of the sandbox (`ctl-N.sock` in the cwd), taken under the host's lock */
struct chan {
	int fd, lock, port;
	struct buf in;
};
/* Take a free port among `ports` (lock keys as the TypeScript host names them), within timeout_ms.
 * Returns 0 or -errno. `alive` (may be NULL) says whether to keep trying. */
int chan_open(struct chan *c, char *const keys[CTL_PORTS], const int *ports, int nports, unsigned timeout_ms,
	      int (*alive)(void));
int chan_send(struct chan *c, const struct buf *frame);
/* Read what is there into c->in. 0, or -EPIPE when the sandbox closed the port. */
int chan_fill(struct chan *c);
/* Next complete frame from c->in (guest types only): size > 0, 0 when more is needed, < 0 invalid. */
int chan_frame(struct chan *c, struct frame *f);
int chan_hello(struct chan *c, unsigned timeout_ms);
void chan_close(struct chan *c);
int send_kill(struct chan *c, uint16_t session, int sig);
int send_resize(struct chan *c, uint16_t session, unsigned rows, unsigned cols);
int send_stdin(struct chan *c, uint16_t session, const void *p, size_t n);
/* A request frame prepared by the runtime CLI, with fields appended now (clock, stdin, size). */
int send_request(struct chan *c, const struct buf *base, int with_time, int stdin_open, unsigned rows, unsigned cols);

/* follow.c: read frames appended to a file QEMU writes (the log and events ports) */
struct follow {
	int fd;
	int punch; /* free what was read (the log can be large; the events file is kept) */
	off_t off;
	struct buf pending;
};
int follow_open(struct follow *f, const char *name, int punch);
/* Call `on` for each complete frame appended since the last call. 0, or -EBADMSG for garbage. */
int follow_read(struct follow *f, int timestamped, void (*on)(void *, const struct frame *), void *arg);

/* console.c */
/* Make a pty, send its master to the caller's console socket (SCM_RIGHTS, as runc does), keep
 * the slave as our raw-mode controlling terminal. Returns the slave fd or -errno. */
int console_setup(const char *socket_path, char *msg, size_t size);
void console_size(int fd, unsigned *rows, unsigned *cols);

/* ctrl.c: `runtime.sock`, where the runtime CLI asks us to start or signal the workload */
int ctrl_listen(void);
/* Accept one client and read its one-line request into line (NUL-terminated). Returns the client fd or -1. */
int ctrl_accept(int lfd, char *line, size_t size);
void ctrl_reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* field values from a guest frame, checked (the guest is hostile) */
int frame_u32(const struct frame *f, uint8_t tag, uint32_t *out);
int frame_str(const struct frame *f, uint8_t tag, char *out, size_t size);

int vm_main(int argc, char **argv);
int exec_main(int argc, char **argv);

#endif
