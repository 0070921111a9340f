/* Just enough JSON to read runc's log and to edit the bundle's config.json without parsing it
 * into a tree: values are located as [start, end) spans of the original text and edits are
 * splices of that text. Nothing here recurses, so hostile nesting cannot exhaust the stack. */
#ifndef NESTBOX_SHIM_JSON_H
#define NESTBOX_SHIM_JSON_H

#include <stddef.h>

#include "../guest-agent/frame.h"

struct span {
	const char *p, *end;
};

const char *json_ws(const char *p, const char *end);
/* The end of the value at p (leading whitespace allowed), or NULL when it is malformed. */
const char *json_skip(const char *p, const char *end);
/* Find member `key` of the object obj; *val is its value. Returns 0, -ENOENT or -EBADMSG. */
int json_member(struct span obj, const char *key, struct span *val);
/* Next element of the array whose '[' was consumed at *cur. Returns 1, 0 at ']', -EBADMSG. */
int json_element(const char **cur, const char *end, struct span *val);
/* Decode the string value v into out (NUL-terminated). Returns its length, -EBADMSG, or -E2BIG
 * with the prefix that fits in out. */
int json_string(struct span v, char *out, size_t size);
/* Append s as a JSON string literal. */
int json_put_string(struct buf *b, const char *s);

/* Splices applied to a text in one pass; positions are pointers into that text. */
#define EDITS_MAX 16
struct edits {
	size_t n;
	struct {
		const char *from, *to; /* replaced range (from == to: insertion) */
		struct buf text;
	} e[EDITS_MAX];
};

/* Add an edit; its text is taken from b (b is reset). Returns 0 or -ENOSPC. */
int edits_add(struct edits *ed, const char *from, const char *to, struct buf *b);
/* Write text with the edits applied to out. Edits must not overlap. Frees the edits. */
int edits_apply(struct edits *ed, struct span text, struct buf *out);
void edits_free(struct edits *ed);

/* Object member: replace its value with `value` or, when absent, insert "key": value. */
int edit_member(struct edits *ed, struct span obj, const char *key, const char *value);
/* Array: insert `items` (comma-separated JSON values) before its first or after its last element. */
int edit_array_insert(struct edits *ed, struct span arr, const char *items, int at_end);

#endif
