#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "json.h"
#include "util.h"

#define CONFIG_MAX (4 << 20)

static int load_config(const char *bundle, char **text, size_t *len, char *msg, size_t size)
{
	char path[4096];
	struct stat st;
	ssize_t n;

	if (fmt(path, sizeof(path), "%s/config.json", bundle) || stat(path, &st)) {
		snprintf(msg, size, "read `%s/config.json`: %s", bundle, strerror(errno ? errno : ENAMETOOLONG));
		return -ENOENT;
	}
	if (st.st_size > CONFIG_MAX) {
		snprintf(msg, size, "read `%s`: larger than %d bytes", path, CONFIG_MAX);
		return -EFBIG;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text)
		return -ENOMEM;
	n = read_file(path, 0, *text, (size_t)st.st_size + 1);
	if (n < 0) {
		snprintf(msg, size, "read `%s`: %s", path, strerror((int)-n));
		free(*text);
		return (int)n;
	}
	*len = (size_t)n;
	return 0;
}

static int save(const char *path, const struct buf *b, char *msg, size_t size)
{
	char tmp[4200];
	int fd, err;

	if (fmt(tmp, sizeof(tmp), "%s.tmp", path))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, size, "write `%s`: %s", tmp, strerror(errno));
		return err;
	}
	err = write_all(fd, b->data, b->len);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		snprintf(msg, size, "write `%s`: %s", path, strerror(-err));
		unlink(tmp);
	}
	return err;
}

/* Does the env array contain KEY=...? (raw text match: these keys need no escaping) */
static int env_has(const struct span *env, const char *key)
{
	size_t n = strlen(key);
	const char *cur;
	struct span v;

	if (!env)
		return 0;
	cur = json_ws(env->p, env->end) + 1;
	while (json_element(&cur, env->end, &v) > 0)
		if ((size_t)(v.end - v.p) > n + 1 && v.p[0] == '"' && !strncmp(v.p + 1, key, n) && v.p[n + 1] == '=')
			return 1;
	return 0;
}

static int req_env_has(const struct request *r, const char *key)
{
	size_t i, n = strlen(key);

	for (i = 0; r && i < r->envc; i++)
		if (!strncmp(r->envp[i], key, n) && r->envp[i][n] == '=')
			return 1;
	return 0;
}

static int buf_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* Append `"s"` to a comma-separated item list. */
static int put_item(struct buf *b, const char *s)
{
	if (b->len && buf_append(b, ", ", 2))
		return -ENOMEM;
	return json_put_string(b, s);
}

/* The env additions (items) and where they go. */
static int edit_env(struct edits *ed, struct span proc, const struct request *r, int tty, const char *hostname)
{
	struct buf items = { 0 };
	struct span env;
	char host[300];
	int has = json_member(proc, "env", &env) == 0, err = 0;
	const struct span *e = has ? &env : NULL;
	size_t i;

	if (has && *json_ws(env.p, env.end) != '[')
		return -EBADMSG;
	for (i = 0; r && i < r->envc && !err; i++)
		err = put_item(&items, r->envp[i]);
	if (!err && !env_has(e, "PATH") && !req_env_has(r, "PATH"))
		err = put_item(&items, "PATH=" DEFAULT_PATH);
	if (!err && hostname && *hostname && !env_has(e, "HOSTNAME") && !req_env_has(r, "HOSTNAME")) {
		snprintf(host, sizeof(host), "HOSTNAME=%s", hostname);
		err = put_item(&items, host);
	}
	if (!err && tty && !env_has(e, "TERM") && !req_env_has(r, "TERM"))
		err = put_item(&items, "TERM=xterm");
	if (!err && items.len && buf_append(&items, "", 1))
		err = -ENOMEM;
	if (!err && items.len) {
		if (has) {
			err = edit_array_insert(ed, env, (char *)items.data, 1);
		} else {
			struct buf arr = { 0 };

			err = buf_append(&arr, "[", 1) || buf_append(&arr, items.data, items.len - 1) ||
			      buf_append(&arr, "]", 2) ? -ENOMEM : edit_member(ed, proc, "env", (char *)arr.data);
			buf_free(&arr);
		}
	}
	buf_free(&items);
	return err;
}

static int edit_tty(struct edits *ed, struct span proc, int tty, unsigned rows, unsigned cols)
{
	char size[80];
	int err = edit_member(ed, proc, "terminal", tty ? "true" : "false");

	if (err || !tty || !rows || !cols || rows > 65535 || cols > 65535)
		return err;
	snprintf(size, sizeof(size), "{\"height\": %u, \"width\": %u}", rows, cols);
	return edit_member(ed, proc, "consoleSize", size);
}

/* root.path relative to the bundle becomes absolute: the copy lives elsewhere. */
static int edit_root(struct edits *ed, struct span top, const char *bundle)
{
	struct span root, path;
	char rel[4096], abs[8300];
	struct buf b = { 0 };
	int err;

	if (json_member(top, "root", &root) || json_member(root, "path", &path))
		return -EBADMSG;
	if (json_string(path, rel, sizeof(rel)) < 0)
		return -EBADMSG;
	if (rel[0] == '/')
		return 0;
	snprintf(abs, sizeof(abs), "%s/%s", bundle, rel);
	err = json_put_string(&b, abs);
	return err ? err : edits_add(ed, path.p, path.end, &b);
}

static int edit_mounts(struct edits *ed, struct span top, const char *exe)
{
	struct buf m = { 0 };
	struct span mounts;
	int err, has = json_member(top, "mounts", &mounts) == 0;

	err = buf_str(&m, "{\"destination\": \"" INIT_PATH "\", \"type\": \"bind\", \"source\": ");
	err = err ? err : json_put_string(&m, exe);
	err = err ? err : buf_str(&m, ", \"options\": [\"bind\", \"ro\", \"nosuid\", \"nodev\"]}");
	if (!err && !has) {
		struct buf arr = { 0 };

		err = buf_append(&arr, "[", 1) || buf_append(&arr, m.data, m.len) || buf_append(&arr, "]", 2)
			      ? -ENOMEM : edit_member(ed, top, "mounts", (char *)arr.data);
		buf_free(&arr);
	} else if (!err) {
		err = buf_append(&m, "", 1) ? -ENOMEM : edit_array_insert(ed, mounts, (char *)m.data, 1);
	}
	buf_free(&m);
	return err;
}

int bundle_write_run(const struct run_bundle *rb, char *msg, size_t size)
{
	struct edits ed = { 0 };
	struct buf out = { 0 }, init = { 0 };
	struct span top, proc, args, host;
	char *text = NULL, hostname[256] = "";
	size_t len;
	int err;

	err = load_config(rb->bundle, &text, &len, msg, size);
	if (err)
		return err;
	top = (struct span){ text, text + len };
	if (json_member(top, "process", &proc) || json_member(proc, "args", &args) ||
	    *json_ws(args.p, args.end) != '[') {
		snprintf(msg, size, "`%s/config.json`: no process.args", rb->bundle);
		err = -EBADMSG;
		goto out;
	}
	if (!json_member(top, "hostname", &host))
		json_string(host, hostname, sizeof(hostname));
	err = json_put_string(&init, INIT_PATH) || buf_append(&init, ", ", 2) || json_put_string(&init, INIT_FLAG) ||
	      buf_append(&init, "", 1) ? -ENOMEM : 0;
	err = err ? err : edit_array_insert(&ed, args, (char *)init.data, 0);
	err = err ? err : edit_tty(&ed, proc, rb->tty, rb->rows, rb->cols);
	err = err ? err : edit_env(&ed, proc, NULL, rb->tty, hostname);
	err = err ? err : edit_root(&ed, top, rb->bundle);
	err = err ? err : edit_mounts(&ed, top, rb->exe);
	err = err ? err : edits_apply(&ed, top, &out);
	if (err) {
		snprintf(msg, size, "`%s/config.json`: %s", rb->bundle,
			 err == -ENOMEM ? "out of memory" : "not a runtime-spec config this shim can use");
		goto out;
	}
	err = save(rb->out, &out, msg, size);
out:
	edits_free(&ed);
	buf_free(&init);
	buf_free(&out);
	free(text);
	return err;
}

/* "uid" or "uid:gid", numeric (the host resolves names for process isolation). */
static int parse_user(const char *s, unsigned long *uid, unsigned long *gid)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	*uid = strtoul(s, &end, 10);
	*gid = 0;
	if (*end == ':') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		*gid = strtoul(s, &end, 10);
	}
	return *end || *uid > 0xfffffffeul || *gid > 0xfffffffeul ? -EINVAL : 0;
}

static int exec_edits(struct edits *ed, struct span proc, const struct request *r, char *msg, size_t size)
{
	struct buf b = { 0 };
	unsigned long uid, gid;
	char user[64];
	size_t i;
	int err = buf_append(&b, "[", 1);

	for (i = 0; i < r->argc && !err; i++)
		err = (i && buf_append(&b, ", ", 2)) || json_put_string(&b, r->argv[i]) ? -ENOMEM : 0;
	err = err ? err : buf_append(&b, "]", 2);
	err = err ? err : edit_member(ed, proc, "args", (char *)b.data);
	buf_free(&b);
	err = err ? err : edit_env(ed, proc, r, r->tty == 1, NULL);
	err = err ? err : edit_tty(ed, proc, r->tty == 1, r->rows, r->cols);
	if (!err && r->cwd && *r->cwd) {
		err = json_put_string(&b, r->cwd) || buf_append(&b, "", 1) ? -ENOMEM
									   : edit_member(ed, proc, "cwd", (char *)b.data);
		buf_free(&b);
	}
	if (!err && r->user && *r->user) {
		if (parse_user(r->user, &uid, &gid)) {
			snprintf(msg, size, "user \"%s\": process isolation takes a numeric uid[:gid]", r->user);
			return -EINVAL;
		}
		snprintf(user, sizeof(user), "{\"uid\": %lu, \"gid\": %lu}", uid, gid);
		err = edit_member(ed, proc, "user", user);
	}
	if (err)
		snprintf(msg, size, "%s", err == -ENOMEM ? "out of memory" : "the bundle's process is not usable for exec");
	return err;
}

int bundle_write_exec(const char *bundle, const char *out, const struct request *r, char *msg, size_t size)
{
	struct edits ed = { 0 };
	struct buf b = { 0 };
	struct span top, proc;
	char *text = NULL;
	size_t len;
	int err;

	err = load_config(bundle, &text, &len, msg, size);
	if (err)
		return err;
	top = (struct span){ text, text + len };
	if (json_member(top, "process", &proc) || *json_ws(proc.p, proc.end) != '{') {
		snprintf(msg, size, "`%s/config.json`: no process object", bundle);
		err = -EBADMSG;
		goto out;
	}
	err = exec_edits(&ed, proc, r, msg, size);
	if (!err && edits_apply(&ed, proc, &b)) {
		snprintf(msg, size, "out of memory");
		err = -ENOMEM;
	}
	if (!err && buf_append(&b, "\n", 1))
		err = -ENOMEM;
	err = err ? err : save(out, &b, msg, size);
out:
	edits_free(&ed);
	buf_free(&b);
	free(text);
	return err;
}
