/* The benchmark floor: an init that reboots at once (QEMU -no-reboot then exits). Measures the
 * same QEMU + kernel as a sandbox with nothing of the agent's own work. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	reboot(RB_AUTOBOOT);
	return 1;
}
