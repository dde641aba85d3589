/*
 * Unit tests for the pure SMTP reply parser: well-formed one- and
 * multi-line replies, and every way a reply can be malformed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

struct rcase {
	const char		*lines[4];	/* NULL-terminated */
	enum reply_status	 last;		/* status of the last line */
	int			 code;
	const char		*text;
};

static const struct rcase cases[] = {
	{ { "250 OK\r\n" }, REPLY_DONE, 250, "OK" },
	{ { "220 mx ESMTP\n" }, REPLY_DONE, 220, "mx ESMTP" },
	{ { "250\r\n" }, REPLY_DONE, 250, "" },
	{ { "250-mx\r\n", "250-PIPELINING\r\n", "250 8BITMIME\r\n" },
	    REPLY_DONE, 250, "mx PIPELINING 8BITMIME" },
	{ { "550-5.1.1 first\r\n", "550 5.1.1 second\r\n" }, REPLY_DONE, 550,
	    "5.1.1 first 5.1.1 second" },
	{ { "451 4.3.0 try later" }, REPLY_DONE, 451, "4.3.0 try later" },
	{ { "250-one\r\n" }, REPLY_MORE, 250, "one" },
	/* What is not printable is escaped: the text goes into messages. */
	{ { "550 a\033[31mb\tc\r\n" }, REPLY_DONE, 550, "a\\x1B[31mb\\x09c" },
	/* Malformed. */
	{ { "\r\n" }, REPLY_BAD, 0, NULL },
	{ { "25\r\n" }, REPLY_BAD, 0, NULL },
	{ { "abc hello\r\n" }, REPLY_BAD, 0, NULL },
	{ { "150 too low\r\n" }, REPLY_BAD, 0, NULL },
	{ { "650 too high\r\n" }, REPLY_BAD, 0, NULL },
	{ { "260 second digit\r\n" }, REPLY_BAD, 0, NULL },
	{ { "2500 no separator\r\n" }, REPLY_BAD, 0, NULL },
	{ { "250_x\r\n" }, REPLY_BAD, 0, NULL },
	{ { "250-a\r\n", "550 b\r\n" }, REPLY_BAD, 0, NULL },
	{ { "250-a\r\n", "garbage\r\n" }, REPLY_BAD, 0, NULL },
};

static void
test_cases(void)
{
	size_t		 i, j;
	struct reply	 r;
	enum reply_status st;

	for (i = 0; i < NELEM(cases); i++) {
		const struct rcase *c = &cases[i];

		smtp_reply_init(&r);
		st = REPLY_BAD;
		for (j = 0; j < NELEM(c->lines) && c->lines[j] != NULL; j++) {
			st = smtp_reply_line(&r, c->lines[j],
			    strlen(c->lines[j]));
			if (c->lines[j + 1] != NULL)
				CHECK(st == REPLY_MORE || c->last == REPLY_BAD,
				    "case %zu line %zu: not a continuation",
				    i, j);
		}
		CHECK(st == c->last, "case %zu: status %d, want %d", i, st,
		    c->last);
		if (c->last == REPLY_BAD)
			continue;
		CHECK(r.code == c->code, "case %zu: code %d", i, r.code);
		CHECK_STR(r.text, c->text, c->lines[0]);
	}
}

/* A NUL inside a line is malformed, not a shorter line. */
static void
test_nul(void)
{
	struct reply	r;

	smtp_reply_init(&r);
	CHECK(smtp_reply_line(&r, "250 a\0b\r\n", 9) == REPLY_BAD,
	    "NUL accepted");
}

/* Bounds: a reply may not go on for ever, and its text is truncated. */
static void
test_bounds(void)
{
	struct reply	 r;
	char		*big;
	size_t		 i;
	enum reply_status st = REPLY_MORE;

	smtp_reply_init(&r);
	for (i = 0; i < 2000 && st == REPLY_MORE; i++)
		st = smtp_reply_line(&r, "250-x\r\n", 7);
	CHECK(st == REPLY_BAD && i == 1001, "line bound: status %d after %zu",
	    st, i);

	big = malloc(100000);
	if (big == NULL)
		abort();
	memset(big, 'y', 100000);
	memcpy(big, "554 ", 4);
	smtp_reply_init(&r);
	st = smtp_reply_line(&r, big, 100000);
	CHECK(st == REPLY_DONE && r.code == 554 &&
	    strlen(r.text) == sizeof(r.text) - 1, "long text: %d %zu", st,
	    strlen(r.text));
	free(big);
}

int
main(void)
{
	test_cases();
	test_nul();
	test_bounds();
	return t_done("t_smtp");
}
