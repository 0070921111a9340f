/* Frames QEMU appends to a file chardev (the sandbox's `log` and `events` ports). Read as they
 * come; the log's consumed bytes are punched out so a chatty workload does not fill the runtime
 * root (a tmpfs under /run) — offsets stay valid because QEMU appends with O_APPEND. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "rtshim.h"

int follow_open(struct follow *f, const char *name, int punch)
{
	f->fd = open(name, O_RDONLY | O_CLOEXEC);
	f->punch = punch;
	f->off = 0;
	f->pending = (struct buf){ 0 };
	return f->fd < 0 ? -errno : 0;
}

int follow_read(struct follow *f, int timestamped, void (*on)(void *, const struct frame *), void *arg)
{
	uint8_t chunk[65536];
	struct frame fr;
	ssize_t n;
	int r;

	if (f->fd < 0)
		return 0;
	for (;;) {
		n = pread(f->fd, chunk, sizeof(chunk), f->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->off += n;
		if (buf_append(&f->pending, chunk, (size_t)n))
			return -ENOMEM;
		while ((r = frame_decode(f->pending.data, f->pending.len, guest_type, &fr)) > 0) {
			if (timestamped && (fr.type == MSG_STDOUT || fr.type == MSG_STDERR)) {
				if (fr.len < 8)
					return -EBADMSG;
				fr.payload += 8; /* the guest's timestamp */
				fr.len -= 8;
			}
			on(arg, &fr);
			buf_consume(&f->pending, (size_t)r);
		}
		if (r < 0)
			return -EBADMSG;
	}
	if (f->punch && f->off >= 1 << 20)
		fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			  (f->off - (off_t)f->pending.len) & ~(off_t)4095);
	return 0;
}
