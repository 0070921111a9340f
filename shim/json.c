#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

const char *json_skip(const char *p, const char *end)
{
	size_t depth = 0;

	p = json_ws(p, end);
	if (p >= end)
		return NULL;
	if (*p != '{' && *p != '[' && *p != '"') {
		/* number, true, false, null */
		const char *start = p;

		while (p < end && (*p == '-' || *p == '+' || *p == '.' || (*p >= '0' && *p <= '9') ||
				   (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			p++;
		return p > start ? p : NULL;
	}
	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			p = skip_string(p, end);
			if (!p)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		p++;
	} while (depth);
	return p;
}

int json_member(struct span obj, const char *key, struct span *val)
{
	const char *p = json_ws(obj.p, obj.end), *k;
	char name[128];
	int len;

	if (p >= obj.end || *p != '{')
		return -EBADMSG;
	p = json_ws(p + 1, obj.end);
	if (p < obj.end && *p == '}')
		return -ENOENT;
	while (p < obj.end) {
		if (*p != '"')
			return -EBADMSG;
		k = p;
		p = skip_string(p, obj.end);
		if (!p)
			return -EBADMSG;
		len = json_string((struct span){ k, p }, name, sizeof(name));
		p = json_ws(p, obj.end);
		if (p >= obj.end || *p != ':')
			return -EBADMSG;
		val->p = json_ws(p + 1, obj.end);
		val->end = json_skip(val->p, obj.end);
		if (!val->end)
			return -EBADMSG;
		if (len >= 0 && !strcmp(name, key))
			return 0;
		p = json_ws(val->end, obj.end);
		if (p < obj.end && *p == '}')
			return -ENOENT;
		if (p >= obj.end || *p != ',')
			return -EBADMSG;
		p = json_ws(p + 1, obj.end);
	}
	return -EBADMSG;
}

int json_element(const char **cur, const char *end, struct span *val)
{
	const char *p = json_ws(*cur, end);

	if (p < end && *p == ',')
		p = json_ws(p + 1, end);
	if (p >= end)
		return -EBADMSG;
	if (*p == ']') {
		*cur = p;
		return 0;
	}
	val->p = p;
	val->end = json_skip(p, end);
	if (!val->end)
		return -EBADMSG;
	*cur = val->end;
	return 1;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

/* Put code point c as UTF-8. Returns bytes written or -E2BIG. */
static int put_utf8(char *out, size_t left, unsigned c)
{
	char b[4];
	int n;

	if (c < 0x80) {
		b[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | c >> 18);
		b[1] = (char)(0x80 | (c >> 12 & 0x3f));
		b[2] = (char)(0x80 | (c >> 6 & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	if ((size_t)n > left)
		return -E2BIG;
	memcpy(out, b, (size_t)n);
	return n;
}

int json_string(struct span v, char *out, size_t size)
{
	const char *p = json_ws(v.p, v.end);
	size_t n = 0;
	unsigned c, lo;
	int w;

	if (p >= v.end || *p != '"' || size == 0)
		return -EBADMSG;
	for (p++; p < v.end && *p != '"'; p++) {
		c = (unsigned char)*p;
		if (c == '\\') {
			if (++p >= v.end)
				return -EBADMSG;
			switch (*p) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				if (v.end - p < 5 || hex4(p + 1, &c))
					return -EBADMSG;
				p += 4;
				if (c >= 0xd800 && c < 0xdc00 && v.end - p >= 7 && p[1] == '\\' && p[2] == 'u' &&
				    !hex4(p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
				if (c == 0)
					return -EBADMSG; /* no NUL in C strings */
				w = put_utf8(out + n, size - 1 - n, c);
				if (w < 0) {
					out[n] = 0;
					return w;
				}
				n += (size_t)w;
				continue;
			default: c = (unsigned char)*p; break; /* \" \\ \/ */
			}
		}
		if (n + 1 >= size) {
			out[n] = 0;
			return -E2BIG;
		}
		out[n++] = (char)c;
	}
	if (p >= v.end)
		return -EBADMSG;
	out[n] = 0;
	return (int)n;
}

int json_put_string(struct buf *b, const char *s)
{
	char esc[8];
	int err = buf_append(b, "\"", 1);

	for (; !err && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			err = buf_append(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			err = buf_append(b, esc, 6);
		} else {
			err = buf_append(b, s, 1);
		}
	}
	return err ? err : buf_append(b, "\"", 1);
}

int edits_add(struct edits *ed, const char *from, const char *to, struct buf *b)
{
	if (ed->n >= EDITS_MAX) {
		buf_free(b);
		return -ENOSPC;
	}
	ed->e[ed->n].from = from;
	ed->e[ed->n].to = to;
	ed->e[ed->n].text = *b;
	ed->n++;
	memset(b, 0, sizeof(*b));
	return 0;
}

void edits_free(struct edits *ed)
{
	size_t i;

	for (i = 0; i < ed->n; i++)
		buf_free(&ed->e[i].text);
	ed->n = 0;
}

int edits_apply(struct edits *ed, struct span text, struct buf *out)
{
	const char *at = text.p;
	size_t i, j, best;
	int err = 0;

	for (i = 0; i < ed->n && !err; i++) {
		/* the remaining edit that starts first (few edits: selection is fine) */
		best = ed->n;
		for (j = 0; j < ed->n; j++)
			if (ed->e[j].from >= at && ed->e[j].to && (best == ed->n || ed->e[j].from < ed->e[best].from))
				best = j;
		if (best == ed->n) {
			err = -EINVAL;
			break;
		}
		err = buf_append(out, at, (size_t)(ed->e[best].from - at));
		if (!err)
			err = buf_append(out, ed->e[best].text.data, ed->e[best].text.len);
		at = ed->e[best].to;
		ed->e[best].to = NULL; /* used */
	}
	if (!err)
		err = buf_append(out, at, (size_t)(text.end - at));
	edits_free(ed);
	return err;
}

int edit_member(struct edits *ed, struct span obj, const char *key, const char *value)
{
	struct buf b = { 0 };
	struct span v;
	const char *open;
	int r = json_member(obj, key, &v), empty;

	if (r == 0) {
		if (buf_append(&b, value, strlen(value)))
			return -ENOMEM;
		return edits_add(ed, v.p, v.end, &b);
	}
	if (r != -ENOENT)
		return r;
	open = json_ws(obj.p, obj.end) + 1;
	empty = *json_ws(open, obj.end) == '}';
	if (json_put_string(&b, key) || buf_append(&b, ": ", 2) || buf_append(&b, value, strlen(value)) ||
	    (!empty && buf_append(&b, ",", 1))) {
		buf_free(&b);
		return -ENOMEM;
	}
	return edits_add(ed, open, open, &b);
}

int edit_array_insert(struct edits *ed, struct span arr, const char *items, int at_end)
{
	const char *open = json_ws(arr.p, arr.end), *close = arr.end - 1;
	struct buf b = { 0 };
	int empty;

	if (open >= arr.end || *open != '[' || *close != ']')
		return -EBADMSG;
	if (!*items)
		return 0;
	empty = *json_ws(open + 1, arr.end) == ']';
	if ((at_end && !empty && buf_append(&b, ",", 1)) || buf_append(&b, items, strlen(items)) ||
	    (!at_end && !empty && buf_append(&b, ",", 1))) {
		buf_free(&b);
		return -ENOMEM;
	}
	return at_end ? edits_add(ed, close, close, &b) : edits_add(ed, open + 1, open + 1, &b);
}
