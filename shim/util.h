/* Small helpers shared by the shim's parts. */
#ifndef NESTBOX_SHIM_UTIL_H
#define NESTBOX_SHIM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../guest-agent/clock.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Print "nestbox-shim: ..." to stderr (the sandbox's qemu.err). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int write_all(int fd, const void *p, size_t n);
/* Read at most size-1 bytes of path starting at offset `from` (NUL-terminated). Returns length or -errno. */
ssize_t read_file(const char *path, off_t from, char *buf, size_t size);
int set_nonblock(int fd);
/* snprintf that reports truncation: 0 or -ENAMETOOLONG. */
int fmt(char *out, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

#endif
