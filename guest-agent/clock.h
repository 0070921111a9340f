/* Clocks, shared by the guest agent and the runc shim. */
#ifndef NESTBOX_CLOCK_H
#define NESTBOX_CLOCK_H

#include <stdint.h>

uint64_t now_ns(void);   /* wall clock, ns since the epoch */
uint64_t mono_ms(void);  /* monotonic, ms */
void sleep_ms(unsigned ms);

#endif
