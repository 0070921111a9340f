/* REIDENTIFY: a new identity for a running sandbox resumed from a checkpoint or forked
 * (docs/guest-protocol.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "mounts.h"
#include "net.h"
#include "util.h"

/* A hostname the kernel and /etc/hosts accept: 1-63 of [A-Za-z0-9.-], not starting with '-'. */
static int hostname_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n < 1 || n > 63 || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		      h[i] == '.' || h[i] == '-'))
			return 0;
	return 1;
}

/* Give a running sandbox a new identity: a restored checkpoint (TIME_NS, ENTROPY) or a fork
 * (also HOSTNAME, MACHINE_ID). Answered with IDENTIFIED, or ERROR 125 (nothing changed when
 * the request was invalid). */
void handle_reidentify(struct agent *a, int port, const struct frame *f)
{
	struct buf *q = port_queue(a, port);
	struct request r;
	const char *why, *name;
	char line[300], hosts[2560], hosts_extra[2048], resolv[1024], msg[512];
	int err = 0;

	if (a->state != STATE_RUNNING) {
		send_error(q, f->session, 125, "REIDENTIFY needs a running container", 0);
		return;
	}
	if (request_parse(f->payload, f->len, &r, &why)) {
		send_error(q, f->session, 125, why, 0);
		return;
	}
	if (r.hostname && !hostname_ok(r.hostname)) {
		send_error(q, f->session, 125, "invalid HOSTNAME (want 1-63 of [A-Za-z0-9.-])", 0);
		request_free(&r);
		return;
	}
	set_clock_and_reseed(&r);
	/* NET (a fork on a network): its own MAC and address on the NIC the saved guest has; without
	 * NET (a restored checkpoint) the NICs are left as they were */
	if (net_setup(r.nets, r.netc, r.netc > 0, hosts_extra, sizeof(hosts_extra), resolv, sizeof(resolv), msg, sizeof(msg))) {
		send_error(q, f->session, 125, msg, 0);
		request_free(&r);
		return;
	}
	if (r.hostname) {
		snprintf(a->hostname, sizeof(a->hostname), "%s", r.hostname);
		if (sethostname(r.hostname, strlen(r.hostname)))
			err = -errno;
		snprintf(line, sizeof(line), "%s\n", r.hostname);
		if (!err)
			err = identity_set("hostname", line);
	}
	if (!err && (r.hostname || r.netc)) {
		name = r.hostname ? r.hostname : a->hostname;
		hosts_file(hosts, sizeof(hosts), name, r.netc ? hosts_extra : "");
		err = identity_set("hosts", hosts);
		if (!err && *resolv)
			err = identity_set("resolv.conf", resolv);
	}
	if (!err && r.machine_id[0]) {
		snprintf(line, sizeof(line), "%s\n", r.machine_id);
		err = identity_set("machine-id", line);
	}
	if (err)
		send_error(q, f->session, 125, strerror(-err), 0);
	else
		send_frame(q, MSG_IDENTIFIED, f->session, NULL);
	request_free(&r);
}
