#ifndef NESTBOX_MODULES_H
#define NESTBOX_MODULES_H

/* Load the modules named in `order` (one .ko file name per line, relative to its directory),
 * passing the `module.param=value` options of /proc/cmdline like modprobe does. A module that
 * fails to load is reported on the console and skipped; `verbose` reports each load time.
 * Returns how many failed. */
int modules_load(const char *order, int verbose);

#endif
