/* Re-seeding the kernel's random number generator from bytes the host sends in RUN. */
#ifndef NESTBOX_ENTROPY_H
#define NESTBOX_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

/* Mix n bytes into the input pool, credit them, and force the CRNG to reseed now, so that two
 * sandboxes restored from one memory image stop sharing a generator state. Returns 0 or -errno. */
int entropy_add(const uint8_t *p, size_t n);

#endif
