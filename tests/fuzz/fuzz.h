/*
 * Shared by the libFuzzer targets: an invariant that fails aborts, so the
 * fuzzer keeps the input that broke it.
 */
#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define INVARIANT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #cond, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

/*
 * The wire rules every prepared message keeps: CRLF only (no bare CR,
 * no bare LF), no line over 998 octets, no NUL.
 */
static inline void
check_wire(const unsigned char *p, size_t n)
{
	size_t	i, col = 0;

	for (i = 0; i < n; i++) {
		INVARIANT(p[i] != '\0');
		if (p[i] == '\r') {
			INVARIANT(i + 1 < n && p[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		INVARIANT(p[i] != '\n');
		INVARIANT(++col <= 998);
	}
	INVARIANT(n == 0 || (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n'));
}

#endif
