/*
 * A tiny harness for the table-driven unit tests: CHECK counts, a failed
 * check prints where and why, and t_done() prints the closing line
 * "t_NAME: N passed, N failed" and gives the exit status.
 */
#ifndef POSTERN_T_H
#define POSTERN_T_H

#include <stdio.h>
#include <string.h>

static int	t_passed, t_failed;

#define CHECK(cond, ...) do {						\
	if (cond)							\
		t_passed++;						\
	else {								\
		t_failed++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_STR(got, want, ctx) \
	CHECK(strcmp((got), (want)) == 0, "%s: got \"%s\", want \"%s\"", \
	    (ctx), (got), (want))

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static inline int
t_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, t_passed, t_failed);
	fflush(stdout);		/* a sanitizer's report may end the process */
	return t_failed != 0;
}

#endif
