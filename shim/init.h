/* The container's PID 1 (this binary run as `INIT_PATH --init CMD...` inside the container).
 * As PID 1 of a pid namespace a program ignores every signal it has no handler for, even
 * SIGKILL sent by itself and SIGTERM sent from the host; the guest agent's processes are never
 * PID 1, so the shim puts this small init in front to keep both isolations alike: it starts the
 * command, forwards signals to it, reaps orphans, and reports on fd 3 (a pipe to the shim). */
#ifndef NESTBOX_SHIM_INIT_H
#define NESTBOX_SHIM_INIT_H

#include <stdint.h>

#define INIT_STATUS_FD 3

enum init_kind { INIT_STARTED = 1, INIT_FAILED = 2, INIT_EXITED = 3 };

/* One record on the status pipe; smaller than PIPE_BUF so every write is atomic. */
struct init_msg {
	uint8_t kind;
	uint8_t pad[3];
	int32_t code;   /* INIT_FAILED: 125, 126 or 127 */
	int32_t status; /* INIT_EXITED: the command's wait status */
	char msg[500];  /* INIT_FAILED: why, NUL-terminated */
};

/* Run argv (the command) as PID 1's child. Returns the exit code for main. */
int init_main(char **argv);

#endif
