/*
 * Unit tests for the aliases file: the /etc/aliases syntax (continuation
 * lines, comments, quoting), the exact error for each kind of bad file,
 * and expansion (case, recursion, loops, default:, refused targets).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

static int
parse(struct aliases *al, const char *text, struct err *e)
{
	FILE	*fp;
	int	 rc;

	fp = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	if (fp == NULL)
		abort();
	memset(e, 0, sizeof(*e));
	rc = alias_parse(al, "t.aliases", fp, e);
	fclose(fp);
	return rc;
}

/* Files that must be refused, with the exact message. */
static const struct {
	const char	*text;
	const char	*msg;
} bad[] = {
	{ "root admin@example.org\n",
	    "t.aliases:1: expected 'name: address, ...'" },
	{ "# c\n\nroot:\n", "t.aliases:3: alias 'root' has no target" },
	{ "root: a@example.org\nROOT: b@example.org\n",
	    "t.aliases:2: alias 'ROOT' is defined twice" },
	{ " a@example.org\n",
	    "t.aliases:1: continuation line without an alias" },
	{ "a b: c@example.org\n", "t.aliases:1: invalid alias name 'a b'" },
	{ ": c@example.org\n", "t.aliases:1: invalid alias name ''" },
	{ "x@y: c@example.org\n", "t.aliases:1: invalid alias name 'x@y'" },
	{ "root: a b@example.org\n", "t.aliases:1: invalid character 0x20 "
	    "in address 'a b@example.org'" },
	{ "root: -oQ@example.org\n", "t.aliases:1: address "
	    "'-oQ@example.org' begins with '-'" },
	{ "root: a@example.org,\n\tb@ex\x01.org\n", "t.aliases:1: invalid "
	    "character 0x01 in address 'b@ex\x01.org'" },
	{ "root: a@example.org\r\n",
	    "t.aliases:1: NUL or carriage return in line" },
};

static void
test_bad(void)
{
	struct aliases	al;
	struct err	e;
	size_t		i;

	for (i = 0; i < NELEM(bad); i++) {
		CHECK(parse(&al, bad[i].text, &e) == -1, "bad[%zu] parsed", i);
		CHECK(e.cls == ERR_CONFIG, "bad[%zu]: class %d", i, e.cls);
		CHECK_STR(e.msg, bad[i].msg, bad[i].text);
	}
}

static const char file[] =
	"# the system's aliases\n"
	"postmaster: root\n"
	"Root: admin@example.org,\n"
	"\tops,\n"
	"  desk@example.org\n"
	"\n"
	"ops: <ops@example.net>, root\n"
	"loop1: loop2\n"
	"loop2: loop1\n"
	"self: self, self@example.net\n"
	"www-data: webmaster\n"
	"pipe: \"|/usr/bin/procmail -a x\"\n"
	"inc: :include:/etc/mail/list\n"
	"file: /var/mail/archive\n"
	"viapipe: pipe\n";

/* Recipient -> the addresses it becomes, space-separated, or an error. */
static const struct {
	const char	*rcpt;
	const char	*want;
} expand[] = {
	{ "root", "admin@example.org ops@example.net root@mx.test "
	    "desk@example.org" },
	{ "ROOT", "admin@example.org ops@example.net root@mx.test "
	    "desk@example.org" },
	{ "postmaster", "admin@example.org ops@example.net "
	    "root@mx.test desk@example.org" },
	{ "ops", "ops@example.net admin@example.org ops@mx.test "
	    "desk@example.org" },
	{ "loop1", "loop1@mx.test" },
	{ "self", "self@mx.test self@example.net" },
	{ "www-data", "webmaster@mx.test" },
	{ "nobody", "nobody@mx.test" },
	{ "user@example.com", "user@example.com" },
	{ "root@example.com", "root@example.com" },
	{ "pipe", "error: t.aliases:12: alias 'pipe': a command target "
	    "'|/usr/bin/procmail -a x' is refused: postern never delivers "
	    "locally" },
	{ "inc", "error: t.aliases:13: alias 'inc': :include: target "
	    "':include:/etc/mail/list' is refused: postern never delivers "
	    "locally" },
	{ "file", "error: t.aliases:14: alias 'file': a file target "
	    "'/var/mail/archive' is refused: postern never delivers "
	    "locally" },
	{ "viapipe", "error: t.aliases:12: alias 'pipe': a command target "
	    "'|/usr/bin/procmail -a x' is refused: postern never delivers "
	    "locally" },
};

static void
got(char *buf, size_t size, char **out, size_t n)
{
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)strlcat(buf, " ", size);
		(void)strlcat(buf, out[i], size);
		free(out[i]);
	}
	free(out);
}

static void
test_expand(void)
{
	struct aliases	 al;
	struct err	 e;
	char		 buf[ERR_MSGLEN + 16], **out;
	size_t		 i, n;

	CHECK(parse(&al, file, &e) == 0, "file: %s", e.msg);
	CHECK(al.n == 11, "file: %zu aliases", al.n);
	for (i = 0; i < NELEM(expand); i++) {
		if (alias_expand(&al, expand[i].rcpt, "mx.test", &out, &n,
		    &e) == -1) {
			(void)snprintf(buf, sizeof(buf), "error: %s", e.msg);
			CHECK(e.cls == ERR_CONFIG, "%s: class", expand[i].rcpt);
		} else
			got(buf, sizeof(buf), out, n);
		CHECK_STR(buf, expand[i].want, expand[i].rcpt);
	}
	alias_free(&al);
}

/* default: catches the names without an entry, once. */
static void
test_default(void)
{
	static const char text[] =
	    "root: admin@example.org\n"
	    "default: catch@example.org, nobody\n";
	static const struct {
		const char	*rcpt, *want;
	} t[] = {
		{ "root", "admin@example.org" },
		{ "bob", "catch@example.org nobody@mx.test" },
		{ "nobody", "catch@example.org nobody@mx.test" },
		{ "x@example.net", "x@example.net" },
	};
	struct aliases	 al;
	struct err	 e;
	char		 buf[ERR_MSGLEN + 16], **out;
	size_t		 i, n;

	CHECK(parse(&al, text, &e) == 0, "default: %s", e.msg);
	for (i = 0; i < NELEM(t); i++) {
		if (alias_expand(&al, t[i].rcpt, "mx.test", &out, &n,
		    &e) == -1)
			(void)snprintf(buf, sizeof(buf), "error: %s", e.msg);
		else
			got(buf, sizeof(buf), out, n);
		CHECK_STR(buf, t[i].want, t[i].rcpt);
	}
	alias_free(&al);
}

static void
warn(const char *fmt, ...)
{
	(void)fmt;
}

/* newaliases: each refused target counted; a clean file has none. */
static void
test_check(void)
{
	struct aliases	al;
	struct err	e;

	CHECK(parse(&al, file, &e) == 0, "check: %s", e.msg);
	CHECK(alias_check(&al, warn) == 3, "check: refused targets");
	alias_free(&al);
	CHECK(parse(&al, "a: b\nb: c@example.org\n", &e) == 0, "clean");
	CHECK(alias_check(&al, warn) == 0, "check: clean file");
	alias_free(&al);
}

/* A chain deeper than the limit, and a file that fans out too far. */
static void
test_limits(void)
{
	struct aliases	 al;
	struct err	 e;
	char		*text, *p, **out;
	size_t		 i, n, len = 0, cap = 65536;

	text = p = calloc(1, cap);
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(text + len, cap - len, "a%zu: a%zu\n",
		    i, i + 1);
	CHECK(parse(&al, text, &e) == 0, "chain: %s", e.msg);
	CHECK(alias_expand(&al, "a0", "mx.test", &out, &n, &e) == -1,
	    "chain expanded");
	CHECK_STR(e.msg, "t.aliases:33: aliases nested more than 32 deep",
	    "chain");
	alias_free(&al);

	len = (size_t)snprintf(text, cap, "big:");
	for (i = 0; i < 1001; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s u%zu@x.org",
		    i > 0 ? "," : "", i);
	(void)strlcat(text, "\n", cap);
	CHECK(parse(&al, text, &e) == 0, "big: %s", e.msg);
	CHECK(alias_expand(&al, "big", "mx.test", &out, &n, &e) == -1,
	    "big expanded");
	CHECK_STR(e.msg, "t.aliases: an alias expands to more than 1000 "
	    "addresses", "big");
	alias_free(&al);
	free(p);
}

int
main(void)
{
	test_bad();
	test_expand();
	test_default();
	test_check();
	test_limits();
	return t_done("t_alias");
}
