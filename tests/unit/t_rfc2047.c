/*
 * Unit tests for encoded words: the tutorial's display name and subject
 * (../shared/seeds/000_118e65fce61c884e.txt) give exactly the words
 * Python's email.header gives, every word is at most 75 characters and
 * decodes to whole characters, B or Q is the shorter, and non-UTF-8
 * bytes are labelled unknown-8bit.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

static const struct {
	const char	*in;
	const char	*out;
} exact[] = {
	/* The tutorial's From/To names and Subject, as it prints them. */
	{ "Python爱好者", "=?utf-8?b?UHl0aG9u54ix5aW96ICF?=" },
	{ "管理员", "=?utf-8?b?566h55CG5ZGY?=" },
	{ "来自SMTP的问候……",
	    "=?utf-8?b?5p2l6IeqU01UUOeahOmXruWAmeKApuKApg==?=" },
	/* B wins by one character: 8 against 9. */
	{ "Café", "=?utf-8?b?Q2Fmw6k=?=" },
	/* Mostly ASCII: Q is shorter; space is "_", specials encoded. */
	{ "résumé attached for review",
	    "=?utf-8?q?r=C3=A9sum=C3=A9_attached_for_review?=" },
	{ "Müller, Anna (Sales) - Berlin office",
	    "=?utf-8?q?M=C3=BCller=2C_Anna_=28Sales=29_-_Berlin_office?=" },
	/* Specials make Q long: B. */
	{ "é a=b?c_d, x.y", "=?utf-8?b?w6kgYT1iP2NfZCwgeC55?=" },
	/* A tie goes to Q. */
	{ "Hello Wörld", "=?utf-8?q?Hello_W=C3=B6rld?=" },
	/* Not UTF-8. */
	{ "caf\xe9", "=?unknown-8bit?q?caf=E9?=" },
	{ "\xff\xfe\xfd", "=?unknown-8bit?b?//79?=" },
	/* Overlong and surrogate forms are not UTF-8 (RFC 3629). */
	{ "\xc0\xaf", "=?unknown-8bit?b?wK8=?=" },
	{ "\xed\xa0\x80", "=?unknown-8bit?b?7aCA?=" },
};

static const struct {
	const char	*s;
	size_t		 len;
} utf8[] = {
	{ "a", 1 }, { "\xc3\xa9", 2 }, { "\xe4\xb8\xad", 3 },
	{ "\xf0\x9f\x98\x80", 4 }, { "\xc3", 0 }, { "\x80", 0 },
	{ "\xc1\xbf", 0 }, { "\xe0\x80\x80", 0 }, { "\xed\xbf\xbf", 0 },
	{ "\xf4\x90\x80\x80", 0 }, { "\xf5\x80\x80\x80", 0 },
};

static void
test_exact(void)
{
	size_t	 i, n;
	char	*enc, *dec;

	for (i = 0; i < NELEM(exact); i++) {
		enc = rfc2047_encode(exact[i].in, strlen(exact[i].in));
		CHECK_STR(enc, exact[i].out, exact[i].in);
		dec = rfc2047_decode(enc, strlen(enc), &n);
		CHECK(n == strlen(exact[i].in) &&
		    memcmp(dec, exact[i].in, n) == 0, "round trip of %s",
		    exact[i].out);
		free(enc);
		free(dec);
	}
}

static void
test_utf8len(void)
{
	size_t	i;

	for (i = 0; i < NELEM(utf8); i++)
		CHECK(rfc2047_utf8len((const unsigned char *)utf8[i].s,
		    strlen(utf8[i].s)) == utf8[i].len, "utf8len case %zu", i);
}

/* Long texts: words <= 75, whole characters, exact round trip. */
static void
test_long(void)
{
	static const char *const texts[] = {
		"来自SMTP的问候……来自SMTP的问候……来自SMTP的问候……"
		"来自SMTP的问候……来自SMTP的问候……来自SMTP的问候……",
		"Grüße aus Köln, Düsseldorf und München – schöne Grüße "
		"an alle Bürgerinnen und Bürger der Städte am Rhein",
		"😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
		"  leading and trailing spaces  é  ",
	};
	size_t	 i, n;
	char	*enc, *dec, *w, *save = NULL, *copy;

	for (i = 0; i < NELEM(texts); i++) {
		enc = rfc2047_encode(texts[i], strlen(texts[i]));
		copy = xstrdup(enc);
		for (w = strtok_r(copy, " ", &save); w != NULL;
		    w = strtok_r(NULL, " ", &save)) {
			CHECK(strlen(w) <= 75, "word %s is %zu long", w,
			    strlen(w));
			dec = rfc2047_decode(w, strlen(w), &n);
			CHECK(rfc2047_utf8valid(dec, n), "word %s splits a "
			    "character", w);
			free(dec);
		}
		free(copy);
		dec = rfc2047_decode(enc, strlen(enc), &n);
		CHECK(n == strlen(texts[i]) && memcmp(dec, texts[i], n) == 0,
		    "round trip of text %zu: %s", i, dec);
		free(dec);
		free(enc);
	}
}

/* The decoder keeps plain text and the space beside it. */
static void
test_decode(void)
{
	static const struct {
		const char *in, *out;
	} d[] = {
		{ "Hello =?utf-8?q?W=C3=B6rld?= again", "Hello Wörld again" },
		{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
		{ "=?utf-8?q?a?=  \r\n =?UTF-8?B?Yg==?= c", "ab c" },
		{ "=?bogus", "=?bogus" },
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
	};
	size_t	 i, n;
	char	*dec;

	for (i = 0; i < NELEM(d); i++) {
		dec = rfc2047_decode(d[i].in, strlen(d[i].in), &n);
		CHECK_STR(dec, d[i].out, d[i].in);
		free(dec);
	}
}

int
main(void)
{
	test_exact();
	test_utf8len();
	test_long();
	test_decode();
	return t_done("t_rfc2047");
}
