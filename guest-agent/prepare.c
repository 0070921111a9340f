/* PREPARE: everything of a RUN but the process, ahead of it (a warm-pool sandbox), plus an
 * optional warm-up process whose run fills the emulator's code cache (docs/guest-protocol.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "mounts.h"
#include "net.h"
#include "util.h"

/* The NET link items of a request, newline-joined (compared between PREPARE and RUN). */
static void link_items(const struct request *r, char *out, size_t size)
{
	size_t i, len = 0;
	int n;

	out[0] = 0;
	for (i = 0; i < r->netc; i++) {
		if (strncmp(r->nets[i], "link\t", 5))
			continue;
		n = snprintf(out + len, size - len, "%s\n", r->nets[i]);
		if (n < 0 || (size_t)n >= size - len) {
			/* too long to keep: never equal to a RUN's, so RUN configures the links again */
			snprintf(out, size, "?");
			return;
		}
		len += (size_t)n;
	}
}

static void send_prepared(struct agent *a, int have_code, int code)
{
	struct buf f = { 0 };

	/* write back what the set-up wrote (identity files, the writable layer's first blocks) now:
	 * a template is saved next, and every guest restored from it would otherwise redo that
	 * writeback itself (and, under TCG, translate the ext4 and block paths to do it) */
	sync();
	if (have_code)
		field_i32(&f, TAG_CODE, code);
	send_frame(port_queue(a, a->prepared.port), MSG_PREPARED, 0, &f);
	buf_free(&f);
	a->state = STATE_PREPARED;
}

/* The warm-up process exited (its output was read and dropped): end what it left, answer. */
void prepare_finished(struct agent *a, const struct session *s)
{
	int status = s->status;

	kill(-s->c.pid, SIGKILL); /* its session: nothing of it may live on into the container */
	if (s->c.in_fd >= 0)
		close(s->c.in_fd);
	send_prepared(a, 1, WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

/* Clock, entropy, network, root and identity as RUN would set them; then the warm-up (ARG) if
 * any. PREPARED answers when done; a failure is ERROR 125 (no EXIT) and the guest powers off.
 * A guest already prepared (restored from a prepared template) is prepared again: only what
 * differs is redone, as by a RUN after PREPARE. */
void handle_prepare(struct agent *a, int port, const struct frame *f)
{
	struct buf *q = port_queue(a, port);
	struct request r;
	struct session *s;
	const char *hostname, *why;
	char msg[512];
	int err, again = a->state == STATE_PREPARED;

	if ((a->state != STATE_BOOTED && !again) || f->session != 0) {
		send_error(q, f->session, 125, f->session ? "PREPARE must use session 0" : "PREPARE needs a guest waiting for RUN", 0);
		return;
	}
	if (request_parse(f->payload, f->len, &r, &why)) {
		send_error(q, 0, 125, why, 0);
		return;
	}
	if (r.argc && (!r.argv[0][0] || (r.cwd && r.cwd[0] != '/'))) {
		send_error(q, 0, 125, "invalid warm-up process: empty ARG 0 or relative CWD", 0);
		request_free(&r);
		return;
	}
	a->state = STATE_PREPARING;
	a->prepared.port = port;
	set_clock_and_reseed(&r);
	hostname = r.hostname && *r.hostname ? r.hostname : "localhost";
	err = sandbox_setup(a, &r, again, hostname, msg, sizeof(msg));
	if (err) {
		send_error(q, 0, 125, msg, 0);
		a->shutdown = 1; /* half set up: of no use to a RUN */
		request_free(&r);
		return;
	}
	if (!r.argc) {
		send_prepared(a, 0, 0);
		request_free(&r);
		return;
	}
	s = session_new(a, OWNER_PREPARE, 0);
	/* a warm-up that cannot start still warmed the paths up to its exec: answer with its code */
	if (!s)
		send_prepared(a, 1, 125);
	else if (start_process(s, NULL, &r, hostname, a->writable)) {
		s->used = 0;
		send_prepared(a, 1, 127);
	}
	request_free(&r);
}

/* RUN (or PREPARE) after PREPARE: clock and entropy were set by the caller; configure the links
 * again only if they differ, rewrite the identity files only if they differ. On success the
 * prepared state is what this request set. */
static int prepared_root(struct agent *a, const struct request *r, const char *hostname, char *msg, size_t size)
{
	char links[sizeof(a->prepared.links)], hosts_extra[sizeof(a->prepared.hosts_extra)];
	char resolv[sizeof(a->prepared.resolv)];
	int err;

	if ((r->readonly == 1) != !a->writable) {
		snprintf(msg, size, "RUN after PREPARE: READONLY differs from PREPARE's");
		return -EINVAL;
	}
	link_items(r, links, sizeof(links));
	err = net_setup(r->nets, r->netc, strcmp(links, a->prepared.links) != 0, hosts_extra, sizeof(hosts_extra),
			resolv, sizeof(resolv), msg, size);
	if (err)
		return err;
	snprintf(a->prepared.links, sizeof(a->prepared.links), "%s", links);
	if (!strcmp(hostname, a->hostname) && !strcmp(r->machine_id, a->prepared.machine_id) &&
	    !strcmp(hosts_extra, a->prepared.hosts_extra) && !strcmp(resolv, a->prepared.resolv))
		return 0;
	if (strcmp(hostname, a->hostname) && sethostname(hostname, strlen(hostname))) {
		snprintf(msg, size, "sethostname `%s`: %s", hostname, strerror(errno));
		return -errno;
	}
	snprintf(a->hostname, sizeof(a->hostname), "%s", hostname);
	err = rootfs_identity(hostname, r->machine_id, hosts_extra, resolv, msg, size);
	if (err)
		return err;
	snprintf(a->prepared.machine_id, sizeof(a->prepared.machine_id), "%s", r->machine_id);
	snprintf(a->prepared.hosts_extra, sizeof(a->prepared.hosts_extra), "%s", hosts_extra);
	snprintf(a->prepared.resolv, sizeof(a->prepared.resolv), "%s", resolv);
	return 0;
}

int sandbox_setup(struct agent *a, const struct request *r, int prepared, const char *hostname, char *msg,
		  size_t size)
{
	if (prepared)
		return prepared_root(a, r, hostname, msg, size);
	snprintf(a->hostname, sizeof(a->hostname), "%s", hostname);
	a->writable = r->readonly != 1;
	snprintf(a->prepared.machine_id, sizeof(a->prepared.machine_id), "%s", r->machine_id);
	link_items(r, a->prepared.links, sizeof(a->prepared.links));
	return net_setup(r->nets, r->netc, 1, a->prepared.hosts_extra, sizeof(a->prepared.hosts_extra),
			 a->prepared.resolv, sizeof(a->prepared.resolv), msg, size) ||
	       rootfs_mount(!a->writable, hostname, r->machine_id, a->prepared.hosts_extra, a->prepared.resolv, msg,
			    size);
}
