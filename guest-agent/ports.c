#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ports.h"
#include "util.h"

static const char *const names[PORT_COUNT] = {
	"org.nestbox.ctl.0", "org.nestbox.ctl.1", "org.nestbox.ctl.2", "org.nestbox.ctl.3",
	"org.nestbox.log",   "org.nestbox.events",
};

const char *port_name(enum port_id id)
{
	return names[id];
}

/* Open /dev/<dev>, creating the node from sysfs when devtmpfs has not made it yet. */
static int open_port_dev(const char *dev)
{
	char path[300], num[32];
	unsigned maj, min;
	int fd;

	snprintf(path, sizeof(path), "/dev/%s", dev);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/dev", dev);
	if (read_small(path, num, sizeof(num)) < 0 || sscanf(num, "%u:%u", &maj, &min) != 2)
		return -ENOENT;
	snprintf(path, sizeof(path), "/dev/%s", dev);
	if (mknod(path, S_IFCHR | 0600, makedev(maj, min)) && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	return fd >= 0 ? fd : -errno;
}

static int set_async(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETOWN, getpid()) || fcntl(fd, F_SETFL, fl | O_ASYNC))
		return -errno;
	return 0;
}

/* One pass over /sys/class/virtio-ports; opens the ports found. Returns how many are open. */
static int scan_ports(struct port *ports)
{
	char path[300], name[64];
	struct dirent *de;
	int i, found = 0, fd;
	DIR *d = opendir("/sys/class/virtio-ports");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (read_small(path, name, sizeof(name)) <= 0)
			continue;
		for (i = 0; i < PORT_COUNT; i++) {
			if (strcmp(name, names[i]) || ports[i].fd >= 0)
				continue;
			fd = open_port_dev(de->d_name);
			if (fd < 0)
				break;
			set_async(fd);
			ports[i].fd = fd;
		}
	}
	closedir(d);
	for (i = 0; i < PORT_COUNT; i++)
		found += ports[i].fd >= 0;
	return found;
}

int ports_open(struct port *ports, unsigned timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	int i, ctl = 0;

	for (i = 0; i < PORT_COUNT; i++) {
		memset(&ports[i], 0, sizeof(ports[i]));
		ports[i].fd = -1;
	}
	while (scan_ports(ports) < PORT_COUNT && mono_ms() < deadline)
		sleep_ms(2);
	for (i = 0; i < PORT_COUNT; i++) {
		if (ports[i].fd < 0) {
			say("port %s not found", names[i]);
			continue;
		}
		port_probe(&ports[i]);
		ctl += i < CTL_PORTS;
	}
	return ports[PORT_EVENTS].fd >= 0 && ctl ? 0 : -ENODEV;
}

int port_probe(struct port *p)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };
	int was = p->connected;

	if (p->fd < 0)
		return 0;
	if (poll(&pfd, 1, 0) < 0)
		return 0;
	p->connected = !(pfd.revents & POLLHUP);
	return was != p->connected;
}

int port_flush(struct port *p)
{
	ssize_t n;

	while (p->out.len) {
		n = write(p->fd, p->out.data, p->out.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		buf_consume(&p->out, (size_t)n);
	}
	return 0;
}
