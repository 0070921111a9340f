/* nestbox-shim: the guest agent's host twin for process isolation (runc). It serves the guest
 * protocol (docs/guest-protocol.md) on the same ctl sockets, log and events files that QEMU
 * would, so everything above the channel is shared. One instance per sandbox, owned by main(). */
#ifndef NESTBOX_SHIM_H
#define NESTBOX_SHIM_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "../guest-agent/frame.h"

#ifndef SHIM_VERSION
#define SHIM_VERSION "0.0.0"
#endif
#define SHIM_NAME "nestbox-shim/" SHIM_VERSION

#define CTL_PORTS 4
#define MAX_SESSIONS 64
#define ORPHANS_MAX 64
#define QUEUE_HIGH (256 * 1024)      /* stop reading a producer while its consumer's queue is larger */
#define QUEUE_MAX (8 * 1024 * 1024)  /* a client that lets its queue grow past this is dropped */
#define DRAIN_MS 5000                /* after the main process is gone, wait this long for output EOF */
#define LINGER_MS 2000               /* after the main EXIT, let exec sessions report */

/* Destinations of frames: a ctl port index, or one of these. */
#define TO_EVENTS (-1)
#define TO_NONE (-2)
#define TO_LOG (-3)
#define OWNER_MAIN TO_EVENTS /* session 0: output to log, status to events */

enum shim_state { STATE_BOOTED, STATE_RUNNING, STATE_EXITED };

struct ctl {
	int lfd;  /* listening socket `ctl-N.sock` */
	int fd;   /* the one client, or -1 (then lfd is polled) */
	int drop; /* misbehaving client: close it after this round */
	struct buf in, out;
};

struct session {
	int used;
	uint16_t id;
	int owner; /* ctl port, OWNER_MAIN, or TO_NONE once its client is gone */
	int tty, stdin_open;
	unsigned rows, cols;
	pid_t starter;     /* `runc run|exec --detach` while it runs */
	pid_t pid;         /* the container's init / the exec'd process (host pid), 0 until known */
	int started;       /* STARTED sent */
	int failed, code;  /* ERROR sent, with this code */
	int in_fd;         /* stdin pipe or pty master; -1 without stdin */
	int out_fd, err_fd;
	int status_fd;     /* main only: the init's status pipe */
	int console;       /* console socket (tty) until runc has sent the pty master */
	char console_name[64];
	struct buf in;
	int in_eof;
	int pending_signal; /* arrived while starting */
	int exited, status; /* wait status of pid */
	int init_status_known, init_status;
	uint8_t rec[512];   /* partial init record */
	size_t rec_len;
	off_t log_from;     /* runc.log is appended: read errors from here */
	uint64_t drain_deadline;
	char log[PATH_MAX], pidfile[PATH_MAX], procjson[PATH_MAX];
};

struct reaped {
	pid_t pid;
	int status;
};

struct shim {
	const char *dir, *bundle, *id, *runc, *runc_root;
	const char *lower;  /* --overlay: the image's rootfs, mounted under the writable layer (rootfs.c) */
	int rootfs_mounted; /* BUNDLE/rootfs is our overlay, unmounted at teardown */
	char exe[PATH_MAX];        /* this binary: the init mounted into the container */
	char run_bundle[PATH_MAX]; /* D/shim-bundle: the config.json runc runs */
	int log_fd, events_fd, sigfd;
	struct ctl ctl[CTL_PORTS];
	struct session sessions[MAX_SESSIONS];
	enum shim_state state;
	int terminating; /* SIGTERM: kill the container, report, leave */
	int quit;
	uint64_t linger_deadline;
	unsigned seq;
	struct reaped orphans[ORPHANS_MAX]; /* exits reaped before we knew the pid */
	size_t norphans;
};

/* frames (handlers.c) */
void emit(struct shim *sh, int to, uint8_t type, uint16_t session, const void *payload, size_t len);
void send_fields(struct shim *sh, int to, uint8_t type, uint16_t session, const struct buf *fields);
void send_error(struct shim *sh, int to, uint16_t session, int code, const char *msg, int with_exit);
void send_exit(struct shim *sh, int to, uint16_t session, int status);
void send_started(struct shim *sh, int to, uint16_t session, pid_t pid);
void handle_frame(struct shim *sh, int port, const struct frame *f);

/* the container's root (rootfs.c) */
int rootfs_mount(struct shim *sh);
void rootfs_unmount(struct shim *sh);

/* ctl sockets (ctl.c) */
int ctl_listen(struct shim *sh, char *msg, size_t size);
void ctl_accept(struct shim *sh, int port);
void ctl_read(struct shim *sh, int port);
void ctl_flush(struct shim *sh, int port);
void ctl_disconnect(struct shim *sh, int port);
void ctl_close_all(struct shim *sh);

/* sessions (session.c) */
struct session *session_find(struct shim *sh, int owner, uint16_t id);
struct session *session_new(struct shim *sh, int owner, uint16_t id);
int session_output_to(const struct session *s);
int session_status_to(const struct session *s);
void session_pump_output(struct shim *sh, struct session *s, int fd);
void session_pump_status(struct shim *sh, struct session *s);
void session_pump_input(struct session *s);
void session_signal(struct session *s, int sig);
void session_resize(struct session *s, unsigned rows, unsigned cols);
void session_reaped(struct shim *sh, pid_t pid, int status);
void session_finish_done(struct shim *sh);
void sessions_orphan(struct shim *sh, int port);
/* An exit reaped before its pid was known (the pid then forgotten). Returns 1 when found. */
int orphan_take(struct shim *sh, pid_t pid, int *status);

/* runc (runc.c, start.c) */
int session_start(struct shim *sh, struct session *s, const struct request *r, char *msg, size_t size);
void session_starter_exited(struct shim *sh, struct session *s, int status);
int runc_error(const char *log, off_t from, char *msg, size_t size);
int runc_delete(struct shim *sh);
int spawn(char *const argv[], const int fds[], int nfds, pid_t *pid, char *msg, size_t size);

#endif
