/* nestbox-vmm-exec PROGRAM [ARG...]: exec a VM monitor (QEMU under TCG) with transparent huge
 * pages turned off for it (PR_SET_THP_DISABLE survives execve). QEMU asks for huge pages on every
 * RAM block and on TCG's code buffer, so each one a guest touches at all costs a whole 2 MiB:
 * the 2 MiB ACPI table ROM of a few KiB, the code buffer in 2 MiB steps (docs/templates.md).
 * The pid stays the monitor's: nothing is left between the caller and QEMU. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nestbox-vmm-exec PROGRAM [ARG...]\n");
		return 125;
	}
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		fprintf(stderr, "nestbox-vmm-exec: prctl(PR_SET_THP_DISABLE): %s (continuing)\n", strerror(errno));
	execvp(argv[1], argv + 1);
	fprintf(stderr, "nestbox-vmm-exec: exec `%s`: %s\n", argv[1], strerror(errno));
	return 127;
}
