#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "user.h"
#include "util.h"

/* Lines of a file read with read(2), not stdio (whose code a restored sandbox would translate at
 * RUN only for this). A line longer than the caller's buffer is cut there; its rest is skipped. */
struct lines {
	int fd;
	size_t pos, len;
	char buf[4096];
};

static int next_line(struct lines *r, char *line, size_t size)
{
	size_t n = 0;
	ssize_t got;
	char c;

	for (;;) {
		if (r->pos == r->len) {
			got = read(r->fd, r->buf, sizeof(r->buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				line[n] = 0;
				return n > 0;
			}
			r->pos = 0;
			r->len = (size_t)got;
		}
		c = r->buf[r->pos++];
		if (c == '\n') {
			line[n] = 0;
			return 1;
		}
		if (n < size - 1)
			line[n++] = c;
	}
}

/* Split a colon-separated line into at most n fields (in place). Returns the count. */
static int split(char *line, char **fields, int n)
{
	int i = 0;

	line[strcspn(line, "\n")] = 0;
	while (i < n) {
		fields[i++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = 0;
	}
	return i;
}

static int parse_id(const char *s, unsigned long *out)
{
	return parse_decimal(s, 0x7fffffffUL, out);
}

struct pw {
	char name[256];
	unsigned long uid, gid;
	char home[256];
};

/* Find a passwd entry by name (name != NULL) or by uid. Returns 0 or -ENOENT. */
static int find_passwd(int rootfd, const char *name, unsigned long uid, struct pw *pw)
{
	char line[1024], *f[7];
	unsigned long u, g;
	struct lines r = { .fd = open_in_root(rootfd, "etc/passwd", 0) };
	int err = -ENOENT;

	if (r.fd < 0)
		return -ENOENT;
	while (next_line(&r, line, sizeof(line))) {
		if (split(line, f, 7) < 7 || parse_id(f[2], &u) || parse_id(f[3], &g))
			continue;
		if (name ? strcmp(f[0], name) : u != uid)
			continue;
		snprintf(pw->name, sizeof(pw->name), "%s", f[0]);
		snprintf(pw->home, sizeof(pw->home), "%s", f[5]);
		pw->uid = u;
		pw->gid = g;
		err = 0;
		break;
	}
	close(r.fd);
	return err;
}

static void add_group(struct user_ids *ids, gid_t g)
{
	size_t i;

	for (i = 0; i < ids->ngroups; i++)
		if (ids->groups[i] == g)
			return;
	if (ids->ngroups < USER_MAX_GROUPS)
		ids->groups[ids->ngroups++] = g;
}

static int is_member(char *members, const char *user)
{
	char *save = NULL, *m;

	for (m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
		if (!strcmp(m, user))
			return 1;
	return 0;
}

/* Resolve a group by name (to *gid) and collect the supplementary groups of `user`. */
static int scan_groups(int rootfd, const char *group, unsigned long *gid, const char *user,
		       struct user_ids *ids)
{
	char line[4096], *f[4];
	unsigned long g;
	struct lines r = { .fd = open_in_root(rootfd, "etc/group", 0) };
	int found = 0;

	if (r.fd < 0)
		return group ? -ENOENT : 0;
	while (next_line(&r, line, sizeof(line))) {
		if (split(line, f, 4) < 4 || parse_id(f[2], &g))
			continue;
		if (group && !found && !strcmp(f[0], group)) {
			*gid = g;
			found = 1;
		}
		if (user && is_member(f[3], user))
			add_group(ids, (gid_t)g);
	}
	close(r.fd);
	return group && !found ? -ENOENT : 0;
}

int user_resolve(int rootfd, const char *spec, struct user_ids *out, char *msg, size_t msgsize)
{
	char user[256], *group = NULL;
	unsigned long uid = 0, gid = 0;
	struct pw pw;
	int have_pw, err;

	memset(out, 0, sizeof(*out));
	snprintf(user, sizeof(user), "%s", spec && *spec ? spec : "0");
	group = strchr(user, ':');
	if (group)
		*group++ = 0;
	if (!*user || (group && !*group)) {
		snprintf(msg, msgsize, "invalid user specification %s", spec);
		return -EINVAL;
	}
	if (!parse_id(user, &uid)) {
		have_pw = !find_passwd(rootfd, NULL, uid, &pw);
	} else {
		have_pw = !find_passwd(rootfd, user, 0, &pw);
		if (!have_pw) {
			snprintf(msg, msgsize, "unable to find user %s: no matching entries in passwd file", user);
			return -ENOENT;
		}
		uid = pw.uid;
	}
	gid = have_pw ? pw.gid : 0;
	snprintf(out->home, sizeof(out->home), "%s", have_pw && pw.home[0] ? pw.home : "/");
	if (group && parse_id(group, &gid)) {
		err = scan_groups(rootfd, group, &gid, NULL, out);
		if (err) {
			snprintf(msg, msgsize, "unable to find group %s: no matching entries in group file", group);
			return err;
		}
	}
	out->uid = (uid_t)uid;
	out->gid = (gid_t)gid;
	add_group(out, out->gid);
	if (have_pw)
		scan_groups(rootfd, NULL, NULL, pw.name, out);
	return 0;
}
