/* virtio-serial ports, found by name. */
#ifndef NESTBOX_PORTS_H
#define NESTBOX_PORTS_H

#include "frame.h"

#define CTL_PORTS 4

enum port_id { PORT_CTL0, PORT_CTL1, PORT_CTL2, PORT_CTL3, PORT_LOG, PORT_EVENTS, PORT_COUNT };

struct port {
	int fd;           /* -1 when the port was not found */
	int connected;    /* host side open (ctl ports: a client is connected) */
	int broken;       /* ctl: a bad frame was received; input is dropped until disconnect */
	int hellos;       /* ctl: HELLOs read since the last disconnect that reset the port */
	struct buf in;    /* ctl: partial input frame */
	struct buf out;   /* frames waiting for the port to become writable */
};

const char *port_name(enum port_id id);

/* Wait until all ports appear (or timeout_ms passes) and open them non-blocking, with O_ASYNC so
 * that host connects/disconnects raise SIGIO. Returns 0 when at least the events port and one
 * ctl port are open, else -ENODEV. */
int ports_open(struct port *ports, unsigned timeout_ms);

/* Refresh `connected` of a port from poll(); returns 1 if it changed. */
int port_probe(struct port *p);

/* Write as much of p->out as the port takes without blocking. Returns 0, or -errno (-EAGAIN
 * is not an error). */
int port_flush(struct port *p);

#endif
