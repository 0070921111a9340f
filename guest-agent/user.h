#ifndef NESTBOX_USER_H
#define NESTBOX_USER_H

#include <stddef.h>
#include <sys/types.h>

#define USER_MAX_GROUPS 64

struct user_ids {
	uid_t uid;
	gid_t gid;
	gid_t groups[USER_MAX_GROUPS];
	size_t ngroups;
	char home[256];
};

/* Resolve `spec` (user, uid, user:group, uid:gid; NULL or "" = root) against etc/passwd and
 * etc/group under the directory `rootfd`, never following links out of it. Returns 0, or
 * -ENOENT/-EINVAL with a Docker-style message in msg. */
int user_resolve(int rootfd, const char *spec, struct user_ids *out, char *msg, size_t msgsize);

#endif
