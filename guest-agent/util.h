/* Small helpers shared by the agent's parts. */
#ifndef NESTBOX_UTIL_H
#define NESTBOX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Print "nestbox-agent: ..." to the console (stderr). */
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define say logf_

/* Read a small file into buf (NUL-terminated, trailing newline stripped). Returns length or -errno. */
ssize_t read_small(const char *path, char *buf, size_t size);
int write_file(const char *path, const char *data, mode_t mode);
int mkdir_p(const char *path, mode_t mode);
/* A decimal number of digits only (no sign, space or prefix), at most max: 0 or -EINVAL. Used
 * instead of strtoul/sscanf: libc's number scanner is code a restored sandbox translates at RUN. */
int parse_decimal(const char *s, unsigned long max, unsigned long *out);

#define RESOLVE_NO_MAGICLINKS 0x02
/* Open `path` read-only below rootfd as if rootfd were "/" (openat2 RESOLVE_IN_ROOT, plus the
 * `resolve` flags given): links in an image resolve inside it. An fd, or -1 with errno. */
int open_in_root(int rootfd, const char *path, unsigned long long resolve);

#endif
