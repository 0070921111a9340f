/* nestbox-runtime-shim vm   --dir D --locks K0,K1,K2,K3 --request FILE [--boot-timeout-ms N]
 *                           [--console-socket S] (-- QEMU [ARG...] | --qemu-pid PID)
 * nestbox-runtime-shim exec --dir D --locks K0,K1,K2,K3 --request FILE [--console-socket S]
 *
 * Started by nestbox-runtime (create / exec) with the caller's stdio on fds 0-2 and a sync pipe
 * on fd 3, on which it reports `ok PID`, `started PID GUESTPID` or `error CODE MESSAGE` once set
 * up (PID: ours, after we forked away from the CLI; --foreground keeps us its child). */
#include <stdio.h>
#include <string.h>

#include "rtshim.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "vm"))
		return vm_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return exec_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("nestbox-runtime-shim %s\n", RTSHIM_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: nestbox-runtime-shim vm|exec --dir D --locks K0,K1,K2,K3 --request FILE "
			"[--console-socket S] [-- QEMU ARGS] (started by nestbox-runtime)\n");
	return 2;
}
