/* Tests for alloc.c, linked statically with musl as the agent is (`make test`): random
 * allocations, reallocations and frees of size-class and mapped blocks, each block filled with its
 * own pattern and checked before it is resized or freed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512
#define ROUNDS 200000

static unsigned char *blocks[SLOTS];
static size_t sizes[SLOTS];
static int failures, checks;
static uint64_t rng = 88172645463325252ull;
static volatile size_t huge = SIZE_MAX;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* mostly small sizes, some up to the largest class, a few mapped ones */
static size_t pick_size(void)
{
	uint64_t r = next() % 100;

	if (r < 70)
		return next() % 512;
	if (r < 97)
		return next() % 65536;
	return 65536 + next() % 300000;
}

static void fill(int i)
{
	memset(blocks[i], (i * 7 + 3) & 0xff, sizes[i]);
}

static void check(int i, size_t n)
{
	size_t k;

	checks++;
	for (k = 0; k < n; k++)
		if (blocks[i][k] != ((i * 7 + 3) & 0xff)) {
			failures++;
			fprintf(stderr, "slot %d: byte %zu of %zu overwritten\n", i, k, n);
			return;
		}
}

int main(void)
{
	int round, i;
	size_t n, k;
	unsigned char *z;

	for (round = 0; round < ROUNDS; round++) {
		i = (int)(next() % SLOTS);
		if (!blocks[i]) {
			sizes[i] = pick_size();
			blocks[i] = malloc(sizes[i]);
			if (!blocks[i] || ((uintptr_t)blocks[i] & 15)) {
				failures++;
				fprintf(stderr, "malloc(%zu) gave %p\n", sizes[i], (void *)blocks[i]);
				return 1;
			}
			fill(i);
		} else if (next() % 3 == 0) {
			n = pick_size();
			check(i, sizes[i] < n ? sizes[i] : n);
			blocks[i] = realloc(blocks[i], n);
			sizes[i] = n;
			fill(i);
		} else {
			check(i, sizes[i]);
			free(blocks[i]);
			blocks[i] = NULL;
		}
	}
	for (i = 0; i < SLOTS; i++) {
		if (blocks[i])
			check(i, sizes[i]);
		free(blocks[i]);
	}
	/* calloc zeroes recycled memory, and refuses a size that overflows */
	for (i = 0; i < 64; i++) {
		z = malloc(1000);
		memset(z, 0xff, 1000);
		free(z);
		z = calloc(10, 100);
		checks++;
		for (k = 0; k < 1000; k++)
			if (z[k]) {
				failures++;
				break;
			}
		free(z);
	}
	/* sizes from a volatile: the compiler would refuse the call with a constant */
	checks++;
	if (calloc(huge / 2, 4) || malloc(huge - 8))
		failures++;
	printf("test_alloc: %d checks, %d failed\n", checks, failures);
	return failures != 0;
}
