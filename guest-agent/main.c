/* nestbox guest agent: PID 1 of a sandbox VM (docs/guest-protocol.md). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "modules.h"
#include "mounts.h"
#include "util.h"

#define MODULE_ORDER "/lib/modules/order"
#define PORT_TIMEOUT_MS 10000
#define FLUSH_TIMEOUT_MS 5000
#define MAX_POLL (1 + PORT_COUNT + 3 * MAX_SESSIONS)

enum slot_kind { SLOT_SIGNAL, SLOT_PORT, SLOT_OUTPUT, SLOT_INPUT };

struct slot {
	enum slot_kind kind;
	int index; /* port or session index */
	int fd;
};

static void reap(struct agent *a)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		session_child_exited(a, pid, status);
}

static int debug;

static void port_reset(struct port *p)
{
	buf_free(&p->in);
	buf_free(&p->out);
	p->broken = 0;
}

/* Host connects and disconnects of ctl ports raise SIGIO; disconnects also end reads. A port
 * comes back with the state on_disconnect left it in (reset, or kept for the client that is
 * connecting). */
static void check_connections(struct agent *a)
{
	int i;

	for (i = 0; i < PORT_COUNT; i++) {
		struct port *p = &a->ports[i];

		if (p->fd >= 0 && !p->connected)
			port_probe(p);
	}
}

static void on_signal(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	reap(a);
	check_connections(a);
}

/* The host has no client on port i at the moment. Connects and disconnects reach the guest as
 * control messages, on another virtqueue than the data and handled later (in a kernel worker),
 * so when QEMU swaps clients the old client's disconnect can show up after we have read the new
 * client's HELLO, even after its EXEC; the new client's connect follows. Resetting the port then
 * would drop our answer (queued while the port looked closed) or kill its sessions, and the host
 * would wait forever. Every client starts with HELLO: after a second HELLO since the last
 * disconnect we acted on, the stream belongs to a newer client than the one that may have gone,
 * so keep the port's state for it. If that client was the one that went, the next client's
 * HELLO kills what it left (as for a disconnect we never saw). */
static void on_disconnect(struct agent *a, int i)
{
	struct port *p = &a->ports[i];
	int swapped = p->hellos > 1;

	p->connected = 0;
	p->hellos = 0;
	if (swapped) {
		if (debug)
			say("ctl%d: disconnect seen after a newer client's HELLO: keeping the port", i);
	} else {
		port_reset(p);
		sessions_orphan(a, i);
	}
	port_probe(p); /* a new client may already be there */
}

/* After a bad frame the stream has no framing left. The client that sent it may be replaced
 * before we see it disconnect, so look for the HELLO every connection starts with. Returns 1
 * while still out of sync. */
static int resync(struct port *p)
{
	static const uint8_t hello[] = { PROTO_VERSION, MSG_HELLO, 0, 0, 9, 0, 0, 0, TAG_VERSION, 4, 0, 0, 0 };
	size_t i;

	for (i = 0; i + sizeof(hello) <= p->in.len; i++) {
		if (!memcmp(p->in.data + i, hello, sizeof(hello))) {
			buf_consume(&p->in, i);
			p->broken = 0;
			return 0;
		}
	}
	/* keep a possible partial HELLO at the end */
	if (p->in.len >= sizeof(hello))
		buf_consume(&p->in, p->in.len - sizeof(hello) + 1);
	return 1;
}

static void read_ctl(struct agent *a, int i)
{
	struct port *p = &a->ports[i];
	uint8_t chunk[16384];
	struct frame f;
	size_t off = 0;
	ssize_t n;
	int r = 0;

	n = read(p->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		on_disconnect(a, i);
		return;
	}
	if (buf_append(&p->in, chunk, (size_t)n)) {
		r = -ENOMEM;
		goto bad;
	}
	if (p->broken && resync(p))
		return;
	while (p->connected && (r = frame_decode(p->in.data + off, p->in.len - off, host_type, &f)) > 0) {
		off += (size_t)r;
		handle_frame(a, i, &f);
	}
	if (r >= 0 || !p->connected) {
		buf_consume(&p->in, off);
		return;
	}
bad:
	send_error(port_queue(a, i), 0, 125,
		   r == -EBADMSG ? "bad frame from host: unsupported protocol version"
		   : r == -EPROTO ? "bad frame from host: unknown message type"
		   : r == -EMSGSIZE ? "bad frame from host: payload longer than 65536 bytes"
				    : "out of memory",
		   0);
	/* the stream has lost its framing: ignore this client until it disconnects or a new
	 * client says HELLO */
	port_flush(p);
	buf_free(&p->in);
	p->broken = 1;
}

/* A ctl port is not read while the stdin it feeds is backed up. */
static int port_stalled(const struct agent *a, int port)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		const struct session *s = &a->sessions[i];

		if (s->used && (s->owner == port || s->owner == OWNER_MAIN) && s->in.len > QUEUE_HIGH)
			return 1;
	}
	return 0;
}

static size_t add(struct pollfd *pfd, struct slot *slot, size_t n, enum slot_kind kind, int index,
		  int fd, short events)
{
	pfd[n] = (struct pollfd){ .fd = fd, .events = events };
	slot[n] = (struct slot){ kind, index, fd };
	return n + 1;
}

static size_t build_poll(struct agent *a, struct pollfd *pfd, struct slot *slot)
{
	size_t n = 0, i;
	struct buf *q;

	n = add(pfd, slot, n, SLOT_SIGNAL, 0, a->sigfd, POLLIN);
	for (i = 0; i < PORT_COUNT; i++) {
		struct port *p = &a->ports[i];
		short ev = p->out.len ? POLLOUT : 0;

		if (p->fd < 0 || !p->connected)
			continue;
		if (i < CTL_PORTS && !port_stalled(a, (int)i))
			ev |= POLLIN;
		if (ev)
			n = add(pfd, slot, n, SLOT_PORT, (int)i, p->fd, ev);
	}
	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (!s->used)
			continue;
		q = session_queue(a, s);
		if (!q || q->len < QUEUE_HIGH) {
			if (s->c.out_fd >= 0)
				n = add(pfd, slot, n, SLOT_OUTPUT, (int)i, s->c.out_fd, POLLIN);
			if (s->c.err_fd >= 0)
				n = add(pfd, slot, n, SLOT_OUTPUT, (int)i, s->c.err_fd, POLLIN);
		}
		if (s->c.in_fd >= 0 && (s->in.len || s->in_eof))
			n = add(pfd, slot, n, SLOT_INPUT, (int)i, s->c.in_fd, POLLOUT);
	}
	return n;
}

static void flush_ports(struct agent *a)
{
	int i;

	for (i = 0; i < PORT_COUNT; i++) {
		struct port *p = &a->ports[i];

		if (p->fd >= 0 && p->connected && p->out.len && port_flush(p))
			if (i < CTL_PORTS)
				buf_free(&p->out);
	}
}

static void dispatch(struct agent *a, const struct pollfd *pfd, const struct slot *slot, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct session *s = &a->sessions[slot[i].index];

		if (!pfd[i].revents)
			continue;
		if (slot[i].kind == SLOT_SIGNAL)
			on_signal(a);
		else if (slot[i].kind == SLOT_OUTPUT && s->used &&
			 (s->c.out_fd == slot[i].fd || s->c.err_fd == slot[i].fd))
			session_pump_output(a, s, slot[i].fd);
		else if (slot[i].kind == SLOT_INPUT && s->used && s->c.in_fd == slot[i].fd)
			session_pump_input(s);
	}
	/* ports last: their requests may start processes and reuse closed fd numbers */
	for (i = 0; i < n; i++) {
		if (slot[i].kind != SLOT_PORT || !pfd[i].revents)
			continue;
		if (slot[i].index < CTL_PORTS && pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			read_ctl(a, slot[i].index);
		else if (pfd[i].revents & POLLHUP)
			a->ports[slot[i].index].connected = 0;
	}
}

static void serve(struct agent *a)
{
	struct pollfd pfd[MAX_POLL];
	struct slot slot[MAX_POLL];
	size_t n;

	while (!a->shutdown) {
		n = build_poll(a, pfd, slot);
		if (poll(pfd, n, -1) < 0) {
			if (errno != EINTR)
				say("poll: %s", strerror(errno));
			continue;
		}
		dispatch(a, pfd, slot, n);
		session_finish_done(a);
		flush_ports(a);
	}
}

/* Make sure log and events reach the host before the VM goes away. */
static void drain_status_ports(struct agent *a)
{
	uint64_t deadline = mono_ms() + FLUSH_TIMEOUT_MS;
	struct pollfd pfd;
	int i;

	for (i = PORT_LOG; i <= PORT_EVENTS; i++) {
		struct port *p = &a->ports[i];

		while (p->fd >= 0 && p->out.len && mono_ms() < deadline) {
			if (port_flush(p))
				break;
			pfd = (struct pollfd){ .fd = p->fd, .events = POLLOUT };
			poll(&pfd, 1, 50);
		}
	}
}

static void power_off(struct agent *a)
{
	drain_status_ports(a);
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	rootfs_unmount();
	reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: the guest reset ends it */
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGIO);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return a->sigfd < 0 ? -errno : 0;
}

static void send_ready(struct agent *a)
{
	struct buf f = { 0 };

	field_str(&f, TAG_AGENT, AGENT_NAME);
	send_frame(&a->ports[PORT_EVENTS].out, MSG_READY, 0, &f);
	buf_free(&f);
	flush_ports(a);
}

/* Whether the kernel command line has the word `word`. */
static int cmdline_has(const char *word)
{
	char line[4096], *tok, *save = NULL;

	if (read_small("/proc/cmdline", line, sizeof(line)) < 0)
		return 0;
	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok, word))
			return 1;
	return 0;
}

int main(void)
{
	static struct agent a;
	uint64_t t;
	int err;

	err = mount_early();
	if (err)
		say("mount /proc, /sys, /dev: %s", strerror(-err));
	err = setup_signals(&a);
	if (err) {
		say("signals: %s", strerror(-err));
		power_off(&a);
		return 1;
	}
	debug = cmdline_has("nestbox.debug");
	t = mono_ms();
	modules_load(MODULE_ORDER, debug);
	if (debug)
		say("modules loaded in %llu ms", (unsigned long long)(mono_ms() - t));
	t = mono_ms();
	if (ports_open(a.ports, PORT_TIMEOUT_MS)) {
		say("virtio-serial ports missing: powering off");
		power_off(&a);
		return 1;
	}
	if (debug)
		say("ports opened in %llu ms", (unsigned long long)(mono_ms() - t));
	err = loopback_up();
	if (err)
		say("bring up lo: %s", strerror(-err));
	send_ready(&a);
	serve(&a);
	power_off(&a);
	return 0;
}
