/* Frame and field encoding/decoding; pure functions, no I/O (unit-tested by test_frame.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24 & 0xff;
}

void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static int buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int host_type(uint8_t t)
{
	return t >= MSG_HELLO && t <= MSG_PREPARE;
}

int guest_type(uint8_t t)
{
	return t >= MSG_R_HELLO && t <= MSG_PREPARED;
}

int frame_decode(const uint8_t *p, size_t n, int (*known)(uint8_t), struct frame *f)
{
	uint32_t len;

	if (n >= 1 && p[0] != PROTO_VERSION)
		return -EBADMSG;
	if (n >= 2 && !known(p[1]))
		return -EPROTO;
	if (n < FRAME_HEADER)
		return 0;
	len = get_u32(p + 4);
	if (len > FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (n - FRAME_HEADER < len)
		return 0;
	f->type = p[1];
	f->session = get_u16(p + 2);
	f->len = len;
	f->payload = p + FRAME_HEADER;
	return (int)(FRAME_HEADER + len);
}

int frame_begin(struct buf *b, uint8_t type, uint16_t session, size_t *start)
{
	uint8_t h[FRAME_HEADER] = { PROTO_VERSION, type, session & 0xff, session >> 8, 0, 0, 0, 0 };

	*start = b->len;
	return buf_append(b, h, sizeof(h));
}

int frame_finish(struct buf *b, size_t start)
{
	size_t len = b->len - start - FRAME_HEADER;

	if (len > FRAME_MAX_PAYLOAD) {
		b->len = start;
		return -EMSGSIZE;
	}
	put_u32(b->data + start + 4, (uint32_t)len);
	return 0;
}

int field_bytes(struct buf *b, uint8_t tag, const void *p, uint32_t n)
{
	uint8_t h[5] = { tag };
	int err;

	put_u32(h + 1, n);
	err = buf_reserve(b, sizeof(h) + n);
	if (err)
		return err;
	buf_append(b, h, sizeof(h));
	return buf_append(b, p, n);
}

int field_str(struct buf *b, uint8_t tag, const char *s)
{
	size_t n = strlen(s);

	if (n > 4096)
		n = 4096; /* the host's limit for strings */
	return field_bytes(b, tag, s, (uint32_t)n);
}

int field_u32(struct buf *b, uint8_t tag, uint32_t v)
{
	uint8_t p[4];

	put_u32(p, v);
	return field_bytes(b, tag, p, 4);
}

int field_i32(struct buf *b, uint8_t tag, int32_t v)
{
	return field_u32(b, tag, (uint32_t)v);
}

void field_iter_init(struct field_iter *it, const uint8_t *payload, size_t len)
{
	it->p = payload;
	it->left = len;
}

int field_next(struct field_iter *it, struct field *f)
{
	uint32_t len;

	if (it->left == 0)
		return 0;
	if (it->left < 5)
		return -EBADMSG;
	len = get_u32(it->p + 1);
	if (len > it->left - 5)
		return -EBADMSG;
	f->tag = it->p[0];
	f->len = len;
	f->value = it->p + 5;
	it->p += 5 + (size_t)len;
	it->left -= 5 + (size_t)len;
	return 1;
}

int fields_check(const uint8_t *payload, size_t len)
{
	struct field_iter it;
	struct field f;
	int r;

	field_iter_init(&it, payload, len);
	while ((r = field_next(&it, &f)) > 0)
		;
	return r;
}

static int copy_string(const struct field *f, char **out)
{
	char *s;

	if (memchr(f->value, 0, f->len))
		return -EINVAL;
	s = malloc((size_t)f->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, f->value, f->len);
	s[f->len] = 0;
	free(*out);
	*out = s;
	return 0;
}

static int push_string(const struct field *f, char ***vec, size_t *count)
{
	char **v = realloc(*vec, (*count + 2) * sizeof(char *));
	int err;

	if (!v)
		return -ENOMEM;
	*vec = v;
	v[*count] = NULL;
	err = copy_string(f, &v[*count]);
	if (err)
		return err;
	(*count)++;
	v[*count] = NULL;
	return 0;
}

static int read_u32(const struct field *f, uint32_t *out)
{
	if (f->len != 4)
		return -EINVAL;
	*out = get_u32(f->value);
	return 0;
}

/* MACHINE_ID: exactly 32 lower-case hex digits, like /etc/machine-id. */
static int read_machine_id(const struct field *f, char *out)
{
	uint32_t i;

	if (f->len != MACHINE_ID_LEN)
		return -EINVAL;
	for (i = 0; i < f->len; i++)
		if (!((f->value[i] >= '0' && f->value[i] <= '9') || (f->value[i] >= 'a' && f->value[i] <= 'f')))
			return -EINVAL;
	memcpy(out, f->value, MACHINE_ID_LEN);
	out[MACHINE_ID_LEN] = 0;
	return 0;
}

static int parse_field(const struct field *f, struct request *req)
{
	switch (f->tag) {
	case TAG_ARG:
		return push_string(f, &req->argv, &req->argc);
	case TAG_ENV:
		if (!memchr(f->value, '=', f->len))
			return -EINVAL;
		return push_string(f, &req->envp, &req->envc);
	case TAG_CWD:
		return copy_string(f, &req->cwd);
	case TAG_USER:
		return copy_string(f, &req->user);
	case TAG_HOSTNAME:
		return copy_string(f, &req->hostname);
	case TAG_TTY:
		return read_u32(f, &req->tty);
	case TAG_STDIN:
		return read_u32(f, &req->stdin_open);
	case TAG_ROWS:
		return read_u32(f, &req->rows);
	case TAG_COLS:
		return read_u32(f, &req->cols);
	case TAG_READONLY:
		return read_u32(f, &req->readonly);
	case TAG_SIGNAL:
		return read_u32(f, &req->signal);
	case TAG_TIME_NS:
		if (f->len != 8)
			return -EINVAL;
		req->time_ns = get_u64(f->value);
		return 0;
	case TAG_MACHINE_ID:
		return read_machine_id(f, req->machine_id);
	case TAG_MOUNT:
		if (req->mountc >= MAX_MOUNTS)
			return -E2BIG;
		return push_string(f, &req->mounts, &req->mountc);
	case TAG_NET:
		if (req->netc >= MAX_NETS)
			return -E2BIG;
		return push_string(f, &req->nets, &req->netc);
	case TAG_ENTROPY:
		if (f->len < ENTROPY_MIN || f->len > ENTROPY_MAX)
			return -EINVAL;
		memcpy(req->entropy, f->value, f->len);
		req->entropy_len = f->len;
		return 0;
	default:
		return 0; /* unknown or guest-only tags are ignored */
	}
}

int request_parse(const uint8_t *payload, size_t len, struct request *req, const char **why)
{
	struct field_iter it;
	struct field f;
	int r;

	memset(req, 0, sizeof(*req));
	field_iter_init(&it, payload, len);
	while ((r = field_next(&it, &f)) > 0) {
		r = parse_field(&f, req);
		if (r == -ENOMEM) {
			*why = "out of memory";
			goto fail;
		}
		if (r) {
			*why = f.tag == TAG_ENV ? "invalid ENV field (want KEY=VALUE without NUL)"
			     : f.tag <= TAG_HOSTNAME ? "invalid string field (contains NUL)"
			     : f.tag == TAG_MACHINE_ID ? "invalid MACHINE_ID (want 32 lower-case hex digits)"
			     : f.tag == TAG_ENTROPY ? "invalid ENTROPY (want 32 to 512 bytes)"
			     : f.tag == TAG_MOUNT ? "invalid MOUNT field (contains NUL, or more than 32 mounts)"
			     : f.tag == TAG_NET ? "invalid NET field (contains NUL, or more than 32)"
						     : "invalid integer field (wrong length)";
			goto fail;
		}
		if (f.tag < 32)
			req->have |= 1u << f.tag;
	}
	if (r < 0) {
		*why = "field overruns the payload";
		goto fail;
	}
	return 0;
fail:
	request_free(req);
	return -EBADMSG;
}

static void free_vec(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void request_free(struct request *req)
{
	free_vec(req->argv, req->argc);
	free_vec(req->envp, req->envc);
	free_vec(req->mounts, req->mountc);
	free_vec(req->nets, req->netc);
	free(req->cwd);
	free(req->user);
	free(req->hostname);
	memset(req, 0, sizeof(*req));
}
