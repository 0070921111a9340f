/* Network interfaces of the container, configured with ioctls (docs/guest-protocol.md, NET).
 * A NIC is found by its MAC (a booted VM's NICs carry the container's MACs) or else by order (a
 * VM restored from a template has the template's MAC until we set its own here). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

#define MAX_LINKS 8
#define MAX_FIELD 512

struct link {
	unsigned char mac[6];
	struct in_addr addr, gateway;
	int prefix, has_gateway;
	unsigned mtu;
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xx:xx:xx:xx:xx:xx", unicast */
static int parse_mac(const char *s, unsigned char *mac)
{
	int i, hi, lo;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++, s += 3) {
		hi = hex_digit(s[0]);
		lo = hex_digit(s[1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[2] != ':'))
			return -EINVAL;
		mac[i] = (unsigned char)(hi << 4 | lo);
	}
	return (mac[0] & 1) ? -EINVAL : 0;
}

/* "MAC\tIP/PREFIX\tGATEWAY\tMTU" (after "link\t") */
static int parse_link(char *s, struct link *l)
{
	char *f[4], *slash;
	unsigned long v;
	int i;

	for (i = 0; i < 4; i++) {
		f[i] = s;
		s = strchr(s, '\t');
		if (!s && i < 3)
			return -EINVAL;
		if (s)
			*s++ = 0;
	}
	if (s || parse_mac(f[0], l->mac))
		return -EINVAL;
	slash = strchr(f[1], '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	if (parse_decimal(slash + 1, 32, &v) || v < 1 || inet_pton(AF_INET, f[1], &l->addr) != 1)
		return -EINVAL;
	l->prefix = (int)v;
	l->has_gateway = *f[2] != 0;
	if (l->has_gateway && inet_pton(AF_INET, f[2], &l->gateway) != 1)
		return -EINVAL;
	if (parse_decimal(f[3], 65535, &v) || v < 68)
		return -EINVAL;
	l->mtu = (unsigned)v;
	return 0;
}

static void set_sin(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr = a;
	memcpy(sa, &sin, sizeof(sin));
}

/*
 * Ethernet interfaces (not lo) in ifindex order, looked up index by index (SIOCGIFNAME) rather
 * than listed by a netlink dump (if_nameindex): the guest's interfaces are lo and its NICs, with
 * the first indexes, and under TCG the netlink paths are code every restored sandbox translated
 * again at its first RUN.
 */
#define MAX_IFINDEX 256
#define IFINDEX_GAP 16 /* this many unused indexes in a row: no more interfaces */

static int list_ifaces(int fd, char names[][IF_NAMESIZE], unsigned char macs[][6], int indexes[], int max)
{
	struct ifreq ifr;
	int n = 0, i, gap = 0;

	for (i = 1; i <= MAX_IFINDEX && gap < IFINDEX_GAP && n < max; i++) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_ifindex = i;
		if (ioctl(fd, SIOCGIFNAME, &ifr)) {
			gap++;
			continue;
		}
		gap = 0;
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) || ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */)
			continue;
		snprintf(names[n], IF_NAMESIZE, "%s", ifr.ifr_name);
		memcpy(macs[n], ifr.ifr_hwaddr.sa_data, 6);
		indexes[n] = i;
		n++;
	}
	return n;
}

/* Networks are IPv4-only: no IPv6 on their NICs (no link-local address, DAD, router or multicast
 * solicitations), as Docker does on IPv4-only networks; lo keeps ::1. No IPv6 at all: nothing to do.
 * Once per NIC (by ifindex): a prepared guest's NICs have it off already. */
static void ipv6_off(const char *name, int ifindex)
{
	static unsigned char done[MAX_IFINDEX + 1];
	char path[96];

	if (ifindex > 0 && ifindex <= MAX_IFINDEX && done[ifindex])
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	if (!access(path, F_OK) && !write_file(path, "1\n", 0644) && ifindex > 0 && ifindex <= MAX_IFINDEX)
		done[ifindex] = 1;
}

/* A NIC a request no longer names (a prepared guest's, RUN on no network): no address, down. */
static int unconfigure(int fd, const char *name, char *msg, size_t size)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP))
		return 0;
	ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		goto fail;
	set_sin(&ifr.ifr_addr, (struct in_addr){ 0 }); /* 0.0.0.0 removes the address */
	if (ioctl(fd, SIOCSIFADDR, &ifr) && errno != EADDRNOTAVAIL)
		goto fail;
	return 0;
fail:
	snprintf(msg, size, "network: take down %s: %s", name, strerror(errno));
	return -errno;
}

static int configure(int fd, const char *name, int ifindex, const struct link *l, char *msg, size_t size)
{
	struct ifreq ifr;
	struct rtentry rt;
	struct in_addr mask;
	const char *what;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_hwaddr.sa_family = 1;
	memcpy(ifr.ifr_hwaddr.sa_data, l->mac, 6);
	what = "set MAC of";
	if (ioctl(fd, SIOCSIFHWADDR, &ifr))
		goto fail;
	ifr.ifr_mtu = (int)l->mtu;
	what = "set MTU of";
	if (ioctl(fd, SIOCSIFMTU, &ifr))
		goto fail;
	set_sin(&ifr.ifr_addr, l->addr);
	what = "set address of";
	if (ioctl(fd, SIOCSIFADDR, &ifr))
		goto fail;
	mask.s_addr = htonl(l->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> l->prefix));
	set_sin(&ifr.ifr_netmask, mask);
	what = "set netmask of";
	if (ioctl(fd, SIOCSIFNETMASK, &ifr))
		goto fail;
	what = "bring up";
	ipv6_off(name, ifindex);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		goto fail;
	if (!l->has_gateway)
		return 0;
	memset(&rt, 0, sizeof(rt));
	set_sin(&rt.rt_dst, (struct in_addr){ 0 });
	set_sin(&rt.rt_genmask, (struct in_addr){ 0 });
	set_sin(&rt.rt_gateway, l->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)name;
	what = "add the default route via";
	if (ioctl(fd, SIOCADDRT, &rt) && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(msg, size, "network: %s %s: %s", what, name, strerror(errno));
	return -errno;
}

static int append(char *out, size_t size, const char *a, const char *b)
{
	size_t len = strlen(out);
	int n = snprintf(out + len, size - len, "%s%s\n", a, b);

	return n < 0 || (size_t)n >= size - len ? -E2BIG : 0;
}

/* A "host" value: IP<TAB>names, names of [A-Za-z0-9._-] separated by spaces. */
static int host_ok(const char *s)
{
	const char *tab = strchr(s, '\t');
	char ip[INET_ADDRSTRLEN];
	struct in_addr a;

	if (!tab || (size_t)(tab - s) >= sizeof(ip))
		return 0;
	memcpy(ip, s, (size_t)(tab - s));
	ip[tab - s] = 0;
	if (inet_pton(AF_INET, ip, &a) != 1 || !tab[1])
		return 0;
	for (s = tab + 1; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._- ", *s)))
			return 0;
	return 1;
}

int net_setup(char **fields, size_t n, int apply, char *hosts, size_t hosts_size, char *resolv, size_t resolv_size,
	      char *msg, size_t msg_size)
{
	struct link links[MAX_LINKS];
	char names[MAX_LINKS * 2][IF_NAMESIZE], buf[MAX_FIELD];
	unsigned char macs[MAX_LINKS * 2][6];
	int used[MAX_LINKS * 2] = { 0 }, indexes[MAX_LINKS * 2];
	struct in_addr a;
	size_t i, nl = 0;
	int fd, found, j, k, err = 0, tries;

	hosts[0] = resolv[0] = 0;
	for (i = 0; i < n; i++) {
		if (strlen(fields[i]) >= sizeof(buf))
			goto bad;
		strcpy(buf, fields[i]);
		if (!strncmp(buf, "link\t", 5)) {
			if (nl == MAX_LINKS || parse_link(buf + 5, &links[nl]))
				goto bad;
			nl++;
		} else if (!strncmp(buf, "dns\t", 4)) {
			if (inet_pton(AF_INET, buf + 4, &a) != 1 || append(resolv, resolv_size, "nameserver ", buf + 4))
				goto bad;
		} else if (!strncmp(buf, "host\t", 5)) {
			if (!host_ok(buf + 5) || append(hosts, hosts_size, buf + 5, ""))
				goto bad;
		} /* other kinds: ignored (forward compatibility) */
	}
	if (resolv[0] && append(resolv, resolv_size, "options ndots:0", ""))
		goto bad;
	if (!apply)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msg_size, "network: socket: %s", strerror(errno));
		return -errno;
	}
	if (!nl) {
		found = list_ifaces(fd, names, macs, indexes, MAX_LINKS * 2);
		for (j = 0; j < found && !err; j++)
			err = unconfigure(fd, names[j], msg, msg_size);
		close(fd);
		return err;
	}
	/* the NICs were probed at boot; allow a moment in case one is still coming */
	for (tries = 0; (found = list_ifaces(fd, names, macs, indexes, MAX_LINKS * 2)) < (int)nl && tries < 100; tries++)
		usleep(10000);
	for (i = 0; i < nl && !err; i++) {
		k = -1;
		for (j = 0; j < found && k < 0; j++)
			if (!used[j] && !memcmp(macs[j], links[i].mac, 6))
				k = j;
		for (j = 0; j < found && k < 0; j++)
			if (!used[j])
				k = j;
		if (k < 0) {
			snprintf(msg, msg_size, "network: no network interface for NIC %zu (found %d)", i, found);
			err = -ENODEV;
			break;
		}
		used[k] = 1;
		err = configure(fd, names[k], indexes[k], &links[i], msg, msg_size);
	}
	close(fd);
	return err;
bad:
	snprintf(msg, msg_size, "invalid NET field %zu", i);
	return -EINVAL;
}
