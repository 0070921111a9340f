/* The agent's state: ports and sessions. One instance, owned by main(). */
#ifndef NESTBOX_AGENT_H
#define NESTBOX_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "ports.h"
#include "spawn.h"

#ifndef AGENT_VERSION
#define AGENT_VERSION "0.0.0"
#endif
#define AGENT_NAME "nestbox-agent/" AGENT_VERSION

#define MAX_SESSIONS 64
#define OWNER_MAIN (-1)   /* session 0: output to log, status to events */
#define OWNER_NONE (-2)   /* exec session whose connection closed: output is dropped */
#define OWNER_PREPARE (-3) /* PREPARE's warm-up process: output dropped, PREPARED when it exits */
#define QUEUE_HIGH (256 * 1024) /* stop reading a producer while its consumer's queue is larger */

/* HELLO's STATE names these, in this order (handlers.c) */
enum agent_state { STATE_BOOTED, STATE_RUNNING, STATE_EXITED, STATE_PREPARING, STATE_PREPARED };

/* The identity and network a PREPARE applied, so that RUN redoes only what differs. */
struct prepared {
	int port; /* the ctl port that asked: PREPARED goes there */
	char machine_id[MACHINE_ID_LEN + 1];
	char hosts_extra[2048];
	char resolv[1024];
	char links[4096]; /* the NET link items, newline-joined */
};

struct session {
	int used;
	uint16_t id;
	int owner; /* ctl port index, OWNER_MAIN or OWNER_NONE */
	struct child c;
	struct buf in; /* stdin bytes not yet written */
	int in_eof;    /* close stdin once `in` is written */
	int exited;
	int status; /* wait status */
};

struct agent {
	struct port ports[PORT_COUNT];
	struct session sessions[MAX_SESSIONS];
	int sigfd;
	enum agent_state state;
	int writable; /* the container root has a writable layer */
	char hostname[256];
	int shutdown; /* set when the guest should power off */
	struct prepared prepared; /* what PREPARE set up (prepare.c) */
};

/* session.c */
struct session *session_find(struct agent *a, int owner, uint16_t id);
struct session *session_new(struct agent *a, int owner, uint16_t id);
struct buf *session_queue(struct agent *a, const struct session *s);
int session_pump_output(struct agent *a, struct session *s, int fd);
int session_pump_input(struct session *s);
void session_child_exited(struct agent *a, pid_t pid, int status);
void session_finish_done(struct agent *a);
void sessions_orphan(struct agent *a, int port);

/* messages (handlers.c) */
void send_frame(struct buf *q, uint8_t type, uint16_t session, const struct buf *fields);
void send_error(struct buf *q, uint16_t session, int code, const char *msg, int with_exit);
void send_exit(struct buf *q, uint16_t session, int status);
struct buf *port_queue(struct agent *a, int port);
void handle_frame(struct agent *a, int port, const struct frame *f);
void set_clock_and_reseed(const struct request *r);
int start_process(struct session *s, struct buf *q, const struct request *r, const char *hostname, int writable);

/* reidentify.c */
void handle_reidentify(struct agent *a, int port, const struct frame *f);

/* prepare.c */
void handle_prepare(struct agent *a, int port, const struct frame *f);
/* The network, root and identity of a RUN or PREPARE (clock and entropy set by the caller): from
 * scratch on a booted guest, or only what differs on a `prepared` one; what was set is recorded in
 * a->prepared. Returns 0, or non-zero with msg. */
int sandbox_setup(struct agent *a, const struct request *r, int prepared, const char *hostname, char *msg,
		  size_t size);
void prepare_finished(struct agent *a, const struct session *s);

#endif
