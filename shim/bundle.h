/* The runtime-spec files the shim hands to runc, derived from the host's bundle. */
#ifndef NESTBOX_SHIM_BUNDLE_H
#define NESTBOX_SHIM_BUNDLE_H

#include <stddef.h>

#include "../guest-agent/frame.h"

/* Where the in-container init (this binary, bind-mounted read-only) appears in the container. */
#define INIT_PATH "/dev/.nestbox-init"
#define INIT_FLAG "--init"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct run_bundle {
	const char *bundle; /* the host's bundle directory (its config.json is not modified) */
	const char *out;    /* the config.json to write */
	const char *exe;    /* this binary, mounted at INIT_PATH */
	int tty;
	unsigned rows, cols;
};

/* Write the main process's config: the host's, with the init put in front of process.args,
 * process.terminal/consoleSize for TTY, default PATH/HOSTNAME/TERM added when missing, an
 * absolute root.path. Returns 0 or -errno with msg set. */
int bundle_write_run(const struct run_bundle *rb, char *msg, size_t size);

/* Write the process.json of an exec session (`runc exec --process`): the host config's process
 * with the request's args, env (appended), cwd, user (numeric uid[:gid]), terminal and console
 * size. Returns 0 or -errno with msg set. */
int bundle_write_exec(const char *bundle, const char *out, const struct request *r, char *msg, size_t size);

#endif
