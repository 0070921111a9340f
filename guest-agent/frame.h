/* Frames and fields of docs/guest-protocol.md (version 1). */
#ifndef NESTBOX_FRAME_H
#define NESTBOX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define FRAME_HEADER 8
#define FRAME_MAX_PAYLOAD 65536u

enum msg_type {
	MSG_HELLO = 0x01,
	MSG_RUN = 0x02,
	MSG_EXEC = 0x03,
	MSG_STDIN = 0x04,
	MSG_KILL = 0x05,
	MSG_RESIZE = 0x06,
	MSG_REIDENTIFY = 0x07,
	MSG_PREPARE = 0x08,
	MSG_R_HELLO = 0x81,
	MSG_STARTED = 0x82,
	MSG_STDOUT = 0x83,
	MSG_STDERR = 0x84,
	MSG_EXIT = 0x85,
	MSG_ERROR = 0x86,
	MSG_READY = 0x87,
	MSG_IDENTIFIED = 0x88,
	MSG_PREPARED = 0x89,
};

enum tag {
	TAG_ARG = 1,
	TAG_ENV = 2,
	TAG_CWD = 3,
	TAG_USER = 4,
	TAG_HOSTNAME = 5,
	TAG_TTY = 6,
	TAG_STDIN = 7,
	TAG_ROWS = 8,
	TAG_COLS = 9,
	TAG_TIME_NS = 10,
	TAG_READONLY = 11,
	TAG_PID = 12,
	TAG_CODE = 13,
	TAG_SIGNAL = 14,
	TAG_MESSAGE = 15,
	TAG_VERSION = 16,
	TAG_AGENT = 17,
	TAG_STATE = 18,
	TAG_MACHINE_ID = 19,
	TAG_ENTROPY = 20,
	TAG_MOUNT = 21,
	TAG_NET = 22,
};

#define MAX_MOUNTS 32
#define MAX_NETS 32

#define MACHINE_ID_LEN 32 /* lower-case hex digits */
#define ENTROPY_MIN 32
#define ENTROPY_MAX 512

struct frame {
	uint8_t type;
	uint16_t session;
	uint32_t len;
	const uint8_t *payload;
};

/* A growable byte buffer (output queues, frames under construction). */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* Decode one frame from p[0..n). Returns the frame's total size (> 0), 0 when more bytes are
 * needed, -EBADMSG for a bad version, -EPROTO for an unknown host->guest type, -EMSGSIZE for a
 * length over the limit. `known` selects the accepted types: host_types or guest_types. */
int frame_decode(const uint8_t *p, size_t n, int (*known)(uint8_t), struct frame *f);
int host_type(uint8_t t);
int guest_type(uint8_t t);

/* Start a frame in b; fields are appended with the field_* helpers; frame_finish fixes the
 * length. Returns 0 or -errno. */
int frame_begin(struct buf *b, uint8_t type, uint16_t session, size_t *start);
int frame_finish(struct buf *b, size_t start);

int field_bytes(struct buf *b, uint8_t tag, const void *p, uint32_t n);
int field_str(struct buf *b, uint8_t tag, const char *s);
int field_u32(struct buf *b, uint8_t tag, uint32_t v);
int field_i32(struct buf *b, uint8_t tag, int32_t v);

/* Field iteration over a payload. field_next returns 1 with a field, 0 at the end, -EBADMSG when
 * a field overruns the payload. */
struct field_iter {
	const uint8_t *p;
	size_t left;
};

struct field {
	uint8_t tag;
	uint32_t len;
	const uint8_t *value;
};

void field_iter_init(struct field_iter *it, const uint8_t *payload, size_t len);
int field_next(struct field_iter *it, struct field *f);
int fields_check(const uint8_t *payload, size_t len);

/* A decoded RUN / EXEC / KILL / RESIZE request. Strings are NUL-terminated copies. */
struct request {
	char **argv;
	size_t argc;
	char **envp;
	size_t envc;
	char **mounts; /* MOUNT fields, "kind\tsource\ttarget\tro|rw\toptions" (volumes.c) */
	size_t mountc;
	char **nets; /* NET fields, "link\t…", "dns\t…", "host\t…" (net.c) */
	size_t netc;
	char *cwd;
	char *user;
	char *hostname;
	char machine_id[MACHINE_ID_LEN + 1]; /* empty when not sent */
	uint8_t entropy[ENTROPY_MAX];
	uint32_t entropy_len;
	uint32_t tty, stdin_open, rows, cols, readonly, signal;
	uint64_t time_ns;
	unsigned have; /* bit (1 << tag) per seen field */
};

/* Parse payload into req. Returns 0, or -EBADMSG with *why set to a static message. */
int request_parse(const uint8_t *payload, size_t len, struct request *req, const char **why);
void request_free(struct request *req);

uint16_t get_u16(const uint8_t *p);
uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);
void put_u32(uint8_t *p, uint32_t v);
void put_u64(uint8_t *p, uint64_t v);

#endif
