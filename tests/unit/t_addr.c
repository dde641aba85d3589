/*
 * Unit tests for RFC 5322 address lists: every form of section 3.4 and
 * the obsolete ones of section 4.4, each with the addr-specs in their
 * SMTP form; the edits (qualification, 8-bit phrases and comments); and
 * the one-line error naming an address that cannot be parsed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

/* Input, and the addr-specs found (bare ones marked with a "!"). */
static const struct {
	const char	*in;
	const char	*want;
} good[] = {
	{ "a@example.org", "a@example.org" },
	{ "A <a@example.org>", "a@example.org" },
	{ "\"Doe, John\" <john@example.org>", "john@example.org" },
	{ "\"a>b\"@x.org", "\"a>b\"@x.org" },
	{ "\"folded\r\n name\"@x.org", "\"folded name\"@x.org" },
	{ "j\xc3\xb6rg@x.org", "j\xc3\xb6rg@x.org" },
	{ "a@x.org, b@y.org,c@z.org", "a@x.org,b@y.org,c@z.org" },
	/* groups (section 3.4) */
	{ "undisclosed-recipients:;", "" },
	{ "friends: a@x.org, B <b@y.org>;, c@z.org",
	    "a@x.org,b@y.org,c@z.org" },
	{ "empty : ; ", "" },
	/* comments everywhere (section 3.2.2), nested, with quoted-pairs */
	{ "a@x.org (A (nested) \\) person)", "a@x.org" },
	{ "(c) a (d) @ (e) x (f) . (g) org (h)", "a@x.org" },
	{ "root (Cron Daemon)", "!root" },
	{ "<root>", "!root" },
	/* quoted local parts keep their quotes where SMTP needs them */
	{ "\"john doe\"@example.org", "\"john doe\"@example.org" },
	{ "\"john\"@example.org", "john@example.org" },
	{ "\"a\\\"b\"@example.org", "\"a\\\"b\"@example.org" },
	/* obsolete forms (section 4.4) */
	{ "<@r1.example,@r2.example:user@example.org>", "user@example.org" },
	{ "Name <@r1.example,,@r2.example: u@example.org>",
	    "u@example.org" },
	{ "John Q. Public <jqp@example.org>", "jqp@example.org" },
	{ "a . b @ example . org", "a.b@example.org" },
	{ "\"a\".b@example.org", "a.b@example.org" },
	{ "a@x.org,,, b@y.org,", "a@x.org,b@y.org" },
	{ "group:,a@x.org,,;", "a@x.org" },
	/* domain literals */
	{ "u@[192.0.2.1]", "u@[192.0.2.1]" },
	/* encoded-word display names and UTF-8 (RFC 6532) */
	{ "=?utf-8?b?UHl0aG9u54ix5aW96ICF?= <py@example.com>",
	    "py@example.com" },
	{ "Python爱好者 <py@example.com>", "py@example.com" },
	{ "用户@例子.广告", "用户@例子.广告" },
	/* folded */
	{ "A\r\n <a@x.org>,\r\n\tb@y.org", "a@x.org,b@y.org" },
};

static const struct {
	const char	*in;
	const char	*msg;
} bad[] = {
	{ "<a@x.org", "To: cannot parse address '<a@x.org': expected '>'" },
	/* No SMTP form: found by fuzzing (tests/fuzz/fuzz_addr.c). */
	{ "\"a\tb\"@x.org", "To: cannot parse address '\"a\\x09b\"@x.org': "
	    "control character in the address" },
	{ "\"a\rb\"@x.org", "To: cannot parse address '\"a': control "
	    "character in the address" },
	{ "\"a\033[1mb\"@x.org", "To: cannot parse address "
	    "'\"a\\x1B[1mb\"@x.org': control character in the address" },
	{ "j\xf6rg@x.org", "To: cannot parse address 'j\\xF6rg@x.org': "
	    "8-bit address that is not UTF-8" },
	{ "a@", "To: cannot parse address 'a@': invalid domain" },
	{ "a@x.org b@y.org",
	    "To: cannot parse address 'a@x.org b@y.org': expected ','" },
	{ "\"open", "To: cannot parse address '\"open': unterminated "
	    "quoted string" },
	{ "a@x.org (unclosed", "To: cannot parse address 'a@x.org "
	    "(unclosed': unterminated comment" },
	{ "x@y.org, <>", "To: cannot parse address '<>': empty address" },
	{ "g: a@x.org", "To: cannot parse address 'g: a@x.org': group "
	    "without ';'" },
	{ "a..b@x.org", "To: cannot parse address 'a..b@x.org': invalid "
	    "local part" },
	{ "@x.org", "To: cannot parse address '@x.org': no address" },
	{ "a@x.org.", "To: cannot parse address 'a@x.org.': invalid domain" },
	{ "<@r1:>", "To: cannot parse address '<@r1:>': empty address" },
};

static void
test_good(void)
{
	struct addrlist	l;
	struct err	e;
	char		got[1024];
	size_t		i, k;

	for (i = 0; i < NELEM(good); i++) {
		memset(&e, 0, sizeof(e));
		if (addr_parse(good[i].in, "To", &l, &e) == -1) {
			CHECK(0, "%s: %s", good[i].in, e.msg);
			continue;
		}
		got[0] = '\0';
		for (k = 0; k < l.n; k++) {
			if (k > 0)
				(void)strlcat(got, ",", sizeof(got));
			if (l.v[k].bare)
				(void)strlcat(got, "!", sizeof(got));
			(void)strlcat(got, l.v[k].spec, sizeof(got));
		}
		CHECK_STR(got, good[i].want, good[i].in);
		addr_free(&l);
	}
}

static void
test_bad(void)
{
	struct addrlist	l;
	struct err	e;
	size_t		i;

	for (i = 0; i < NELEM(bad); i++) {
		memset(&e, 0, sizeof(e));
		CHECK(addr_parse(bad[i].in, "To", &l, &e) == -1 &&
		    e.cls == ERR_DATA, "%s: accepted", bad[i].in);
		CHECK_STR(e.msg, bad[i].msg, bad[i].in);
	}
}

/* The edits: where to qualify, which 8-bit text to encode. */
static void
test_edits(void)
{
	static const struct {
		const char *in;
		const char *want;	/* off:len:text;... ("-" = qualify) */
	} ed[] = {
		{ "root (Cron Daemon)", "4:0:-;" },
		{ "Python爱好者 <py@example.com>", "0:15:Python爱好者;" },
		{ "\"管理员\" <a@x.org>", "0:11:管理员;" },
		{ "张 三 <a@x.org>", "0:7:张 三;" },
		{ "John 张 <a@x.org>", "5:3:张;" },
		{ "a@x.org (注释)", "9:6:注释;" },
		{ "=?utf-8?q?x?= <a@x.org>", "" },
		{ "a, b@x.org", "1:0:-;" },
	};
	struct addrlist	l;
	struct err	e;
	char		got[1024], one[256];
	size_t		i, k;

	for (i = 0; i < NELEM(ed); i++) {
		if (addr_parse(ed[i].in, "To", &l, &e) == -1) {
			CHECK(0, "%s: %s", ed[i].in, e.msg);
			continue;
		}
		got[0] = '\0';
		for (k = 0; k < l.ned; k++) {
			(void)snprintf(one, sizeof(one), "%zu:%zu:%s;",
			    l.ed[k].off, l.ed[k].len, l.ed[k].text != NULL ?
			    l.ed[k].text : "-");
			(void)strlcat(got, one, sizeof(got));
		}
		CHECK_STR(got, ed[i].want, ed[i].in);
		addr_free(&l);
	}
}

static void
test_misc(void)
{
	char	*q;

	q = addr_qualify("root", "example.org");
	CHECK_STR(q, "root@example.org", "qualify");
	free(q);
	q = addr_qualify("a@b", "example.org");
	CHECK_STR(q, "a@b", "qualify");
	free(q);
	CHECK(addr_same("a@EXAMPLE.org", "a@example.ORG"), "same domain");
	CHECK(!addr_same("A@example.org", "a@example.org"), "local case");
	CHECK(!addr_same("a", "a@example.org"), "bare");
}

/* The set compares as addr_same: domain without case, local part exact. */
static void
test_set(void)
{
	struct addrset	 s;
	char		 a[32];
	size_t		 i, added = 0;

	memset(&s, 0, sizeof(s));
	CHECK(addrset_add(&s, "a@x.org") == 1, "first add");
	CHECK(addrset_add(&s, "a@X.ORG") == 0, "domain case");
	CHECK(addrset_add(&s, "A@x.org") == 1, "local part case counts");
	CHECK(addrset_add(&s, "root") == 1 && addrset_add(&s, "root") == 0,
	    "bare name");
	for (i = 0; i < 10000; i++) {
		(void)snprintf(a, sizeof(a), "u%zu@x.org", i % 5000);
		added += addrset_add(&s, a);
	}
	CHECK(added == 5000 && s.n == 5003, "10000 adds: %zu new, %zu in all",
	    added, s.n);
	addrset_free(&s);
}

/* Envelope addresses: white space only inside a quoted local part. */
static void
test_arg(void)
{
	static const struct {
		const char	*a;
		int		 ok;
	} v[] = {
		{ "a@example.org", 1 },
		{ "\"john doe\"@example.org", 1 },
		{ "\"a\\\" b\"@example.org", 1 },
		{ "\"a b\"", 1 },
		{ "a b@example.org", 0 },
		{ "\"a b\" c@example.org", 0 },
		{ "x\"a b\"@example.org", 0 },
		{ "\"a b@example.org", 0 },
		{ "\"a\tb\"@example.org", 0 },
		{ "\"a\\\rb\"@example.org", 0 },
		{ "\"a<b\"@example.org", 0 },
		{ "-a@example.org", 0 },
		{ "", 0 },
	};
	struct err	e;
	size_t		i;

	for (i = 0; i < NELEM(v); i++)
		CHECK((addr_valid_arg(v[i].a, &e) == 0) == v[i].ok,
		    "addr_valid_arg(%s) should %s", v[i].a,
		    v[i].ok ? "pass" : "fail");
}

int
main(void)
{
	test_arg();
	test_set();
	test_good();
	test_bad();
	test_edits();
	test_misc();
	return t_done("t_addr");
}
