#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "entropy.h"
#include "frame.h"

/* <linux/random.h>, which musl does not ship */
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG _IO('R', 0x07)

struct pool_info {
	int entropy_count; /* bits */
	int buf_size;      /* bytes */
	uint8_t buf[ENTROPY_MAX];
};

int entropy_add(const uint8_t *p, size_t n)
{
	struct pool_info info;
	int fd, err = 0;

	if (n > sizeof(info.buf))
		n = sizeof(info.buf);
	info.entropy_count = (int)n * 8;
	info.buf_size = (int)n;
	memcpy(info.buf, p, n);
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, RNDADDENTROPY, &info) || ioctl(fd, RNDRESEEDCRNG))
		err = -errno;
	close(fd);
	memset(&info, 0, sizeof(info));
	return err;
}
