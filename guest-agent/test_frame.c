/* Unit tests for frame.c: run natively with `make test`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static int failures, checks;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		checks++;                                                            \
		if (!(cond)) {                                                       \
			failures++;                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                    \
	} while (0)

static size_t header(uint8_t *p, uint8_t version, uint8_t type, uint16_t session, uint32_t len)
{
	p[0] = version;
	p[1] = type;
	p[2] = session & 0xff;
	p[3] = session >> 8;
	put_u32(p + 4, len);
	return FRAME_HEADER;
}

static size_t field(uint8_t *p, uint8_t tag, const void *v, uint32_t len)
{
	p[0] = tag;
	put_u32(p + 1, len);
	memcpy(p + 5, v, len);
	return 5 + (size_t)len;
}

static void test_decode_complete(void)
{
	uint8_t b[64];
	struct frame f;
	size_t n = header(b, 1, MSG_STDIN, 0x1234, 3);

	memcpy(b + n, "abc", 3);
	CHECK(frame_decode(b, n + 3, host_type, &f) == (int)n + 3);
	CHECK(f.type == MSG_STDIN);
	CHECK(f.session == 0x1234);
	CHECK(f.len == 3);
	CHECK(!memcmp(f.payload, "abc", 3));
	/* an empty payload is a complete frame (STDIN EOF) */
	header(b, 1, MSG_STDIN, 1, 0);
	CHECK(frame_decode(b, FRAME_HEADER, host_type, &f) == FRAME_HEADER && f.len == 0);
}

static void test_decode_truncated(void)
{
	uint8_t b[64];
	struct frame f;
	size_t i, n = header(b, 1, MSG_RUN, 0, 10);

	memset(b + n, 0, 10);
	/* every proper prefix asks for more bytes */
	for (i = 0; i < n + 10; i++)
		CHECK(frame_decode(b, i, host_type, &f) == 0);
	CHECK(frame_decode(b, n + 10, host_type, &f) == (int)n + 10);
}

static void test_decode_rejects(void)
{
	uint8_t b[16];
	struct frame f;

	header(b, 2, MSG_HELLO, 0, 0);
	CHECK(frame_decode(b, 8, host_type, &f) == -EBADMSG);
	CHECK(frame_decode(b, 1, host_type, &f) == -EBADMSG); /* rejected from the first byte */
	header(b, 1, MSG_PREPARE, 0, 0);
	CHECK(frame_decode(b, 8, host_type, &f) == 8);
	header(b, 1, 0x09, 0, 0);
	CHECK(frame_decode(b, 8, host_type, &f) == -EPROTO);
	header(b, 1, MSG_PREPARED, 0, 0);
	CHECK(frame_decode(b, 8, guest_type, &f) == 8);
	header(b, 1, 0x8a, 0, 0);
	CHECK(frame_decode(b, 8, guest_type, &f) == -EPROTO);
	header(b, 1, MSG_EXIT, 0, 0); /* a guest->host type sent to the guest */
	CHECK(frame_decode(b, 8, host_type, &f) == -EPROTO);
	CHECK(frame_decode(b, 8, guest_type, &f) == 8);
	header(b, 1, 0x00, 0, 0);
	CHECK(frame_decode(b, 2, host_type, &f) == -EPROTO);
	header(b, 1, MSG_STDIN, 0, FRAME_MAX_PAYLOAD + 1);
	CHECK(frame_decode(b, 8, host_type, &f) == -EMSGSIZE);
	header(b, 1, MSG_STDIN, 0, 0xffffffffu);
	CHECK(frame_decode(b, 8, host_type, &f) == -EMSGSIZE);
	/* the limit itself is allowed: incomplete, not an error */
	header(b, 1, MSG_STDIN, 0, FRAME_MAX_PAYLOAD);
	CHECK(frame_decode(b, 8, host_type, &f) == 0);
}

static void test_decode_stream(void)
{
	uint8_t b[64];
	struct frame f;
	size_t n = 0, off = 0;
	int r, count = 0;

	n += header(b + n, 1, MSG_HELLO, 0, 0);
	n += header(b + n, 1, MSG_STDIN, 3, 2);
	b[n++] = 'h';
	b[n++] = 'i';
	n += header(b + n, 1, MSG_KILL, 3, 0);
	while ((r = frame_decode(b + off, n - off, host_type, &f)) > 0) {
		off += (size_t)r;
		count++;
	}
	CHECK(r == 0 && count == 3 && off == n);
}

static void test_fields(void)
{
	uint8_t p[128];
	struct field_iter it;
	struct field f;
	size_t n = 0;
	uint32_t v = 7;

	n += field(p + n, TAG_ARG, "ls", 2);
	n += field(p + n, 200, "zz", 2); /* unknown tag */
	n += field(p + n, TAG_TTY, &v, 4);
	field_iter_init(&it, p, n);
	CHECK(field_next(&it, &f) == 1 && f.tag == TAG_ARG && f.len == 2 && !memcmp(f.value, "ls", 2));
	CHECK(field_next(&it, &f) == 1 && f.tag == 200);
	CHECK(field_next(&it, &f) == 1 && f.tag == TAG_TTY && get_u32(f.value) == 7);
	CHECK(field_next(&it, &f) == 0);
	CHECK(fields_check(p, n) == 0);
	/* a field header cut short, and a value overrunning the payload */
	CHECK(fields_check(p, 3) == -EBADMSG);
	CHECK(fields_check(p, 6) == -EBADMSG);
	put_u32(p + 1, 0xfffffffbu); /* 5 + len wraps around 32 bits */
	CHECK(fields_check(p, n) == -EBADMSG);
	CHECK(fields_check(p, 0) == 0);
}

static void test_request(void)
{
	uint8_t p[512];
	struct request r;
	const char *why = NULL;
	uint64_t t = 0x0102030405060708ull;
	uint8_t t8[8];
	uint32_t one = 1, rows = 24;
	size_t n = 0;

	put_u64(t8, t);
	n += field(p + n, TAG_ARG, "sh", 2);
	n += field(p + n, TAG_ENV, "A=1", 3);
	n += field(p + n, TAG_ARG, "-c", 2);
	n += field(p + n, 99, "ignored", 7);
	n += field(p + n, TAG_ARG, "", 0);
	n += field(p + n, TAG_CWD, "/tmp", 4);
	n += field(p + n, TAG_USER, "1000:1000", 9);
	n += field(p + n, TAG_TTY, &one, 4);
	n += field(p + n, TAG_ROWS, &rows, 4);
	n += field(p + n, TAG_TIME_NS, t8, 8);
	CHECK(request_parse(p, n, &r, &why) == 0);
	CHECK(r.argc == 3 && !strcmp(r.argv[0], "sh") && !strcmp(r.argv[1], "-c") && !strcmp(r.argv[2], ""));
	CHECK(r.argv[3] == NULL);
	CHECK(r.envc == 1 && !strcmp(r.envp[0], "A=1") && r.envp[1] == NULL);
	CHECK(!strcmp(r.cwd, "/tmp") && !strcmp(r.user, "1000:1000"));
	CHECK(r.tty == 1 && r.rows == 24 && r.cols == 0 && r.time_ns == t);
	CHECK(r.have & 1u << TAG_TIME_NS && !(r.have & 1u << TAG_READONLY));
	request_free(&r);

	/* overrun: the last field claims more bytes than remain */
	n = field(p, TAG_ARG, "sh", 2);
	p[n] = TAG_ARG;
	put_u32(p + n + 1, 10);
	memcpy(p + n + 5, "abc", 3);
	CHECK(request_parse(p, n + 8, &r, &why) == -EBADMSG && why && strstr(why, "overruns"));
	CHECK(r.argv == NULL && r.argc == 0); /* nothing leaks out of a failed parse */

	/* wrong integer width */
	n = field(p, TAG_TTY, "\1\0", 2);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	n = field(p, TAG_TIME_NS, "\1\0\0\0", 4);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	/* NUL inside a string, ENV without '=' */
	n = field(p, TAG_ARG, "a\0b", 3);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	n = field(p, TAG_ENV, "NOVALUE", 7);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	/* empty payload: valid, no fields */
	CHECK(request_parse(p, 0, &r, &why) == 0 && r.argc == 0 && r.have == 0);
	request_free(&r);
}

static void test_identity_fields(void)
{
	uint8_t p[1024], seed[600];
	struct request r;
	const char *why = NULL;
	size_t n;

	memset(seed, 0xab, sizeof(seed));
	n = field(p, TAG_MACHINE_ID, "0123456789abcdef0123456789abcdef", 32);
	n += field(p + n, TAG_ENTROPY, seed, 32);
	CHECK(request_parse(p, n, &r, &why) == 0);
	CHECK(!strcmp(r.machine_id, "0123456789abcdef0123456789abcdef"));
	CHECK(r.entropy_len == 32 && r.entropy[0] == 0xab && r.entropy[31] == 0xab);
	request_free(&r);
	/* machine-id: exactly 32 lower-case hex digits */
	n = field(p, TAG_MACHINE_ID, "0123456789ABCDEF0123456789abcdef", 32);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG && strstr(why, "MACHINE_ID"));
	n = field(p, TAG_MACHINE_ID, "0123456789abcdef", 16);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	n = field(p, TAG_MACHINE_ID, "../../etc/passwd\0abcdef0123456789a", 32);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	/* entropy: 32 to 512 bytes */
	n = field(p, TAG_ENTROPY, seed, 31);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG && strstr(why, "ENTROPY"));
	n = field(p, TAG_ENTROPY, seed, 513);
	CHECK(request_parse(p, n, &r, &why) == -EBADMSG);
	n = field(p, TAG_ENTROPY, seed, 512);
	CHECK(request_parse(p, n, &r, &why) == 0 && r.entropy_len == 512);
	request_free(&r);
	/* absent: empty machine-id, no entropy */
	CHECK(request_parse(p, 0, &r, &why) == 0 && !r.machine_id[0] && !r.entropy_len);
	request_free(&r);
}

static void test_encode_roundtrip(void)
{
	struct buf b = { 0 };
	struct frame f;
	struct field_iter it;
	struct field fl;
	size_t start;
	char big[5000];

	CHECK(frame_begin(&b, MSG_EXIT, 9, &start) == 0);
	CHECK(field_i32(&b, TAG_CODE, 137) == 0);
	CHECK(field_u32(&b, TAG_SIGNAL, 9) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(field_str(&b, TAG_MESSAGE, big) == 0); /* clipped to the host's 4096-byte limit */
	CHECK(frame_finish(&b, start) == 0);
	CHECK(frame_decode(b.data, b.len, guest_type, &f) == (int)b.len);
	CHECK(f.type == MSG_EXIT && f.session == 9 && f.len == b.len - FRAME_HEADER);
	field_iter_init(&it, f.payload, f.len);
	CHECK(field_next(&it, &fl) == 1 && fl.tag == TAG_CODE && fl.len == 4 && get_u32(fl.value) == 137);
	CHECK(field_next(&it, &fl) == 1 && fl.tag == TAG_SIGNAL && get_u32(fl.value) == 9);
	CHECK(field_next(&it, &fl) == 1 && fl.tag == TAG_MESSAGE && fl.len == 4096);
	CHECK(field_next(&it, &fl) == 0);
	buf_free(&b);

	/* a frame whose payload would exceed the limit is refused and rolled back */
	CHECK(frame_begin(&b, MSG_STDOUT, 1, &start) == 0);
	{
		static uint8_t data[FRAME_MAX_PAYLOAD + 1];
		buf_append(&b, data, sizeof(data));
	}
	CHECK(frame_finish(&b, start) == -EMSGSIZE && b.len == start);
	buf_free(&b);
}

static void test_buf(void)
{
	struct buf b = { 0 };

	CHECK(buf_append(&b, "hello", 5) == 0 && b.len == 5);
	buf_consume(&b, 2);
	CHECK(b.len == 3 && !memcmp(b.data, "llo", 3));
	buf_consume(&b, 10);
	CHECK(b.len == 0);
	buf_free(&b);
	CHECK(b.data == NULL && b.cap == 0);
}

int main(void)
{
	test_decode_complete();
	test_decode_truncated();
	test_decode_rejects();
	test_decode_stream();
	test_fields();
	test_request();
	test_identity_fields();
	test_encode_roundtrip();
	test_buf();
	printf("test_frame: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
