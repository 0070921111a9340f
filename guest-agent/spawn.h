#ifndef NESTBOX_SPAWN_H
#define NESTBOX_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "user.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct spawn_opts {
	char *const *argv;
	char *const *envp; /* complete environment (PATH, HOME, ... already added) */
	const char *cwd;
	const struct user_ids *ids;
	int tty, stdin_open, writable;
	unsigned rows, cols;
};

struct child {
	pid_t pid;
	int in_fd;  /* stdin pipe (write end) or pty master; -1 without stdin */
	int out_fd; /* stdout pipe or pty master */
	int err_fd; /* stderr pipe; -1 with a pty */
	int tty;    /* in_fd/out_fd are the same pty master */
};

/* Start a process chrooted into NEWROOT. The returned fds are non-blocking and close-on-exec.
 * On failure returns -errno, *code is 125 (setup), 126 (cannot execute) or 127 (not found) and
 * msg says why (Docker's wording). */
int spawn_process(const struct spawn_opts *o, struct child *c, int *code, char *msg, size_t size);

/* Set a pty's window size. */
int pty_resize(int master, unsigned rows, unsigned cols);

#endif
