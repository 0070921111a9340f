/*
 * The agent's memory allocator, in place of musl's (malloc, calloc, realloc and free are weak in
 * static musl). musl's mallocng hands groups of freed blocks back to the kernel at once, so every
 * request the agent handled mapped and unmapped memory again: under TCG those kernel paths were
 * code a sandbox restored from a template translated at its first RUN, and CPU at every RUN and
 * EXEC. Here blocks of up to 64 KiB come in power-of-two size classes from chunks mapped once, and
 * a freed block waits on its class's list for the next request; a larger block (a frame buffer of
 * a big payload, a backed-up output queue) is a mapping of its own, unmapped when freed. The agent
 * has one thread; its vfork child (spawn.c) allocates nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_SHIFT 5 /* 32 bytes, header included */
#define MAX_SHIFT 16 /* 64 KiB */
#define CHUNK_BYTES (1u << 20)
#define PAGE_MASK ((size_t)4095)

/* 16 bytes before every block: keeps the payload 16-byte aligned */
struct header {
	size_t mapped; /* length of the block's own mapping, or 0 for a size-class block */
	size_t shift; /* size class: the block (header included) is 1 << shift bytes */
};

struct free_block {
	struct free_block *next;
};

static struct free_block *free_lists[MAX_SHIFT + 1];
static char *chunk_pos, *chunk_end;

static struct header *header_of(void *p)
{
	return (struct header *)p - 1;
}

static size_t capacity(const struct header *h)
{
	return (h->mapped ? h->mapped : (size_t)1 << h->shift) - sizeof(*h);
}

static void *map_block(size_t total)
{
	size_t len = (total + PAGE_MASK) & ~PAGE_MASK;
	struct header *h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (h == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	h->mapped = len;
	h->shift = 0;
	return h + 1;
}

void *malloc(size_t n)
{
	struct header *h;
	size_t total, shift = MIN_SHIFT;

	if (n > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	total = n + sizeof(*h);
	if (total > (size_t)1 << MAX_SHIFT)
		return map_block(total);
	while (((size_t)1 << shift) < total)
		shift++;
	if (free_lists[shift]) {
		h = (struct header *)free_lists[shift];
		free_lists[shift] = free_lists[shift]->next;
	} else {
		if ((size_t)(chunk_end - chunk_pos) < (size_t)1 << shift) {
			/* the rest of the old chunk (under 64 KiB) is left unused */
			char *c = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (c == MAP_FAILED) {
				errno = ENOMEM;
				return NULL;
			}
			chunk_pos = c;
			chunk_end = c + CHUNK_BYTES;
		}
		h = (struct header *)chunk_pos;
		chunk_pos += (size_t)1 << shift;
	}
	h->mapped = 0;
	h->shift = shift;
	return h + 1;
}

void free(void *p)
{
	struct header *h;
	struct free_block *b;

	if (!p)
		return;
	h = header_of(p);
	if (h->mapped) {
		munmap(h, h->mapped);
		return;
	}
	b = (struct free_block *)h;
	b->next = free_lists[h->shift];
	free_lists[h->shift] = b;
}

void *calloc(size_t count, size_t size)
{
	void *p;

	if (size && count > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (!p)
		return malloc(n);
	old = capacity(header_of(p));
	if (n <= old)
		return p;
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	free(p);
	return q;
}
