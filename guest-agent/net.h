#ifndef NESTBOX_NET_H
#define NESTBOX_NET_H

#include <stddef.h>

/* The container's network (docs/guest-protocol.md, NET fields): configure each "link" field's
 * interface (MAC, address, MTU, up; the default route when it names a gateway) when `apply`
 * (else only check them: a PREPARE already configured the same links), and render the
 * "host" lines for /etc/hosts and the "dns" lines as /etc/resolv.conf (resolv[0] = 0: none).
 * Returns 0, or -errno with msg naming the field or operation that failed. */
int net_setup(char **fields, size_t n, int apply, char *hosts, size_t hosts_size, char *resolv, size_t resolv_size,
	      char *msg, size_t msg_size);

#endif
