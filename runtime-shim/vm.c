/* vm mode: one VM container. Boot QEMU (our child), say `ok` once the guest agent answered
 * HELLO (the runtime's `create` is done), send RUN when `start` asks on runtime.sock, then
 * relay: the main process's output from the log file to our stdout/stderr, our stdin and
 * signals to the guest, and exit as the main process did once QEMU is gone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define QUIT_GRACE_MS 10000 /* after the main EXIT, how long QEMU gets to power off */

struct vm {
	struct stdio io;
	struct chan ctl;
	struct buf request;
	struct follow log, events;
	pid_t qemu;
	int qemu_fd;    /* pidfd: readable once QEMU is gone */
	int qemu_child; /* we started it (and reap it) */
	int qemu_gone;
	int sigfd, lfd, ino;
	int start_client;   /* `start` waiting for STARTED/ERROR */
	int run_sent, running, exited, code, sig;
	int error_code;
	char error[512];
	uint64_t quit_deadline;
};

static struct vm *the_vm;

static void write_pid(const char *name, pid_t pid)
{
	FILE *f = fopen(name, "we");

	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
}

static int qemu_alive(void)
{
	struct pollfd p = { .fd = the_vm->qemu_fd, .events = POLLIN };

	if (the_vm->qemu_gone)
		return 0;
	if (the_vm->qemu_fd >= 0 ? poll(&p, 1, 0) > 0 : kill(the_vm->qemu, 0) && errno == ESRCH) {
		the_vm->qemu_gone = 1;
		if (the_vm->qemu_child)
			waitpid(the_vm->qemu, NULL, WNOHANG);
	}
	return !the_vm->qemu_gone;
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static pid_t spawn_qemu(char **argv)
{
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	signals_restore_child();
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	fd = open("qemu.err", O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	syscall(SYS_close_range, 3, ~0U, 0);
	execvp(argv[0], argv);
	dprintf(2, "nestbox-runtime-shim: exec `%s`: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* End QEMU now (nothing in the guest needs saving) and reap it. */
static void stop_qemu(struct vm *vm)
{
	struct pollfd p = { .fd = vm->qemu_fd, .events = POLLIN };

	if (vm->qemu_gone)
		return;
	kill(vm->qemu, SIGKILL);
	if (vm->qemu_child)
		waitpid(vm->qemu, NULL, 0);
	else if (vm->qemu_fd >= 0)
		poll(&p, 1, 5000);
	vm->qemu_gone = 1;
}

static void on_event(void *arg, const struct frame *f)
{
	struct vm *vm = arg;
	uint32_t v;

	if (f->session != 0)
		return;
	if (f->type == MSG_STARTED && !frame_u32(f, TAG_PID, &v)) {
		vm->running = 1;
		ctrl_reply(vm->start_client, "started %u", v);
	} else if (f->type == MSG_ERROR) {
		vm->error_code = !frame_u32(f, TAG_CODE, &v) && v >= 125 && v <= 127 ? (int)v : 125;
		if (frame_str(f, TAG_MESSAGE, vm->error, sizeof(vm->error)))
			snprintf(vm->error, sizeof(vm->error), "the guest could not start the process");
		ctrl_reply(vm->start_client, "error %d %s", vm->error_code, vm->error);
	} else if (f->type == MSG_EXIT) {
		vm->exited = 1;
		vm->code = !frame_u32(f, TAG_CODE, &v) && v <= 255 ? (int)v : 255;
		vm->sig = !frame_u32(f, TAG_SIGNAL, &v) && v >= 1 && v <= 64 ? (int)v : 0;
		if (!vm->quit_deadline)
			vm->quit_deadline = mono_ms() + QUIT_GRACE_MS;
	} else {
		return;
	}
	if (f->type != MSG_EXIT && vm->start_client >= 0) {
		close(vm->start_client);
		vm->start_client = -1;
	}
}

static void on_output(void *arg, const struct frame *f)
{
	struct vm *vm = arg;

	if (f->session != 0)
		return;
	if (f->type == MSG_STDOUT)
		output_to(&vm->io.out, f->payload, f->len);
	else if (f->type == MSG_STDERR)
		output_to(vm->io.tty ? &vm->io.out : &vm->io.err, f->payload, f->len);
}

static void follow_all(struct vm *vm)
{
	if (follow_read(&vm->log, 1, on_output, vm) || follow_read(&vm->events, 0, on_event, vm)) {
		note("malformed frames from the guest: stopping it");
		stop_qemu(vm);
		vm->log.fd = vm->events.fd = -1;
	}
}

/* A signal for the workload: forward it once RUN was sent; before that, the container dies. */
static void deliver(struct vm *vm, int sig)
{
	if (vm->run_sent) {
		if (!vm->exited && send_kill(&vm->ctl, 0, sig))
			note("forward signal %d: the guest channel is gone", sig);
		return;
	}
	if (sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH)
		return; /* ignored by default: a process that has not started would not die of them */
	note("signal %d before start: ending the container", sig);
	stop_qemu(vm);
	exit_like(128 + sig, sig);
}

static void start(struct vm *vm, int client)
{
	unsigned rows = 0, cols = 0;
	int err;

	if (vm->run_sent) {
		ctrl_reply(client, "error 125 the container was already started");
		close(client);
		return;
	}
	if (vm->io.tty)
		console_size(vm->io.out, &rows, &cols);
	err = send_request(&vm->ctl, &vm->request, 1, vm->io.in >= 0, rows, cols);
	if (err) {
		ctrl_reply(client, "error 125 send RUN to the guest: %s", strerror(-err));
		close(client);
		return;
	}
	vm->run_sent = 1;
	vm->start_client = client;
	vm->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (vm->ino >= 0) {
		inotify_add_watch(vm->ino, "log", IN_MODIFY);
		inotify_add_watch(vm->ino, "events", IN_MODIFY);
	}
}

static void on_ctrl(struct vm *vm)
{
	char line[128];
	int client = ctrl_accept(vm->lfd, line, sizeof(line)), sig;

	if (client < 0)
		return;
	if (!strcmp(line, "start")) {
		start(vm, client);
		return;
	}
	if (!strncmp(line, "kill ", 5) && (sig = atoi(line + 5)) >= 1 && sig <= 64) {
		if (vm->exited) {
			ctrl_reply(client, "error 125 the container is not running");
		} else {
			ctrl_reply(client, "ok");
			close(client);
			deliver(vm, sig);
			return;
		}
	} else {
		ctrl_reply(client, "error 125 unknown request");
	}
	close(client);
}

static void on_signal(struct vm *vm)
{
	struct signalfd_siginfo si;
	unsigned rows, cols;

	while (read(vm->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			qemu_alive();
		} else if (si.ssi_signo == SIGWINCH) {
			if (vm->io.tty && vm->run_sent) {
				console_size(vm->io.out, &rows, &cols);
				if (rows && cols)
					send_resize(&vm->ctl, 0, rows, cols);
			}
		} else {
			deliver(vm, (int)si.ssi_signo);
		}
	}
}

static void on_ctl(struct vm *vm)
{
	struct frame f;
	int r;

	if (chan_fill(&vm->ctl)) {
		close(vm->ctl.fd); /* QEMU is going away; keep the port's lock until we exit */
		vm->ctl.fd = -1;
		return;
	}
	while ((r = chan_frame(&vm->ctl, &f)) > 0) {
		if (f.type == MSG_ERROR && f.session == 0 && !vm->running)
			on_event(vm, &f); /* the RUN itself was refused */
		buf_consume(&vm->ctl.in, (size_t)r);
	}
	if (r < 0)
		buf_free(&vm->ctl.in);
}

static int boot(struct vm *vm, const struct opts *o)
{
	int ports[1] = { 0 }, err;

	if (o->qemu_pid > 0) {
		vm->qemu = o->qemu_pid;
	} else {
		vm->qemu = spawn_qemu(o->qemu);
		vm->qemu_child = 1;
	}
	if (vm->qemu < 0) {
		sync_report("error 125 fork: %s", strerror(errno));
		return -errno;
	}
	/* at once: a `delete` while we boot (the runtime CLI was killed) must find QEMU */
	write_pid("qemu.pid", vm->qemu);
	vm->qemu_fd = pidfd_of(vm->qemu);
	if (vm->qemu_fd < 0 && !vm->qemu_child) {
		sync_report("error 125 pidfd_open %d: %s", (int)vm->qemu, strerror(errno));
		return -errno;
	}
	err = chan_open(&vm->ctl, o->keys, ports, 1, o->boot_timeout_ms, qemu_alive);
	if (!err)
		err = chan_hello(&vm->ctl, o->boot_timeout_ms);
	if (!err && (vm->lfd = ctrl_listen()) < 0)
		err = vm->lfd;
	if (err) {
		sync_report("error 125 %s", vm->qemu_gone ? "QEMU exited during boot"
					  : err == -ETIMEDOUT ? "the guest did not answer within the boot timeout"
							      : strerror(-err));
		stop_qemu(vm);
		return err;
	}
	return 0;
}

static size_t build_poll(struct vm *vm, struct pollfd *p)
{
	size_t n = 0;

	p[n++] = (struct pollfd){ .fd = vm->sigfd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = vm->lfd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = vm->ctl.fd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = vm->run_sent ? vm->ino : -1, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = vm->run_sent && !vm->exited ? vm->io.in : -1, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = vm->qemu_fd, .events = POLLIN };
	return n;
}

static void drain_inotify(int fd)
{
	char b[4096];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

int vm_main(int argc, char **argv)
{
	static struct vm vm;
	struct pollfd p[6];
	struct opts o;
	int timeout;
	uint64_t now;

	if (opts_parse(&o, argc, argv) || (!o.qemu == !o.qemu_pid)) {
		sync_report("error 125 nestbox-runtime-shim vm: bad arguments");
		return 2;
	}
	vm = (struct vm){ .start_client = -1, .lfd = -1, .ino = -1, .qemu_fd = -1, .ctl = { .fd = -1, .lock = -1 } };
	the_vm = &vm;
	if (setup_common(&o, &vm.request, &vm.io))
		return 125;
	if ((vm.sigfd = signals_setup()) < 0) {
		sync_report("error 125 signalfd: %s", strerror(-vm.sigfd));
		return 125;
	}
	write_pid("waiter.pid", getpid());
	if (boot(&vm, &o))
		return 125;
	if (follow_open(&vm.log, "log", 1) || follow_open(&vm.events, "events", 0))
		note("open the log/events files: %s", strerror(errno));
	sync_report("ok %d", (int)getpid());
	note("VM booted (QEMU pid %d), waiting for start", (int)vm.qemu);
	for (;;) {
		size_t n = build_poll(&vm, p);

		now = mono_ms();
		timeout = vm.run_sent ? 200 : -1; /* inotify can miss nothing, but be safe */
		if (vm.quit_deadline)
			timeout = vm.quit_deadline <= now ? 0 : (int)(vm.quit_deadline - now) < timeout ? (int)(vm.quit_deadline - now) : timeout;
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			note("poll: %s", strerror(errno));
		if (p[0].revents)
			on_signal(&vm);
		if (p[1].revents)
			on_ctrl(&vm);
		if (p[2].revents)
			on_ctl(&vm);
		if (p[3].revents)
			drain_inotify(vm.ino);
		if (vm.run_sent)
			follow_all(&vm);
		if (p[4].revents && vm.io.in >= 0)
			relay_stdin(&vm.ctl, 0, &vm.io.in);
		if (!vm.qemu_gone)
			qemu_alive();
		if (!vm.qemu_gone && vm.quit_deadline && mono_ms() >= vm.quit_deadline) {
			note("QEMU still running %d ms after the main process exited: killing it", QUIT_GRACE_MS);
			stop_qemu(&vm);
		}
		if (vm.qemu_gone)
			break;
	}
	follow_all(&vm);
	if (vm.start_client >= 0)
		ctrl_reply(vm.start_client, "error 125 the VM stopped before the process started");
	if (vm.exited) {
		note("main process exited: code %d, signal %d", vm.code, vm.sig);
		exit_like(vm.code, vm.sig);
	}
	note("QEMU exited without the main process's exit status (see qemu.err)");
	return 255;
}
