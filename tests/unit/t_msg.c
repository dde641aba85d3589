/*
 * Unit tests for message preparation: each case is an input, options and
 * the exact prepared file (or the exact error).  The clock is injected
 * (now = 1700000000) and TZ set, so Date is compared as a whole string;
 * Message-ID is checked against its exact shape.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"
#include "t.h"

#define NOW	1700000000	/* Tue, 14 Nov 2023 22:13:20 UTC */
#define DATE	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"

enum {
	F_T = 1,	/* -t */
	F_I = 2,	/* -i */
	F_MSGID = 4,	/* let Message-ID be added */
	F_KEEPBCC = 8,
	F_UNDISC = 16,
	F_FROMON = 32,
	F_NOFROM = 64,
	F_NODATE = 128,
	F_DOWN = 256	/* msg_downgrade the result */
};

static const struct {
	const char	*name;
	const char	*in;
	int		 flags;
	const char	*out;		/* NULL: an error */
	const char	*rcpts;		/* -t: space-separated */
} cases[] = {
	{ "LF, CR and CRLF all become CRLF",
	  "To: a@x.org\nSubject: s\r\n\r\nl1\rl2\r\nl3\n", 0,
	  "To: a@x.org\r\nSubject: s\r\n"
	  "From: Test <s@example.org>\r\n" DATE "\r\nl1\r\nl2\r\nl3\r\n",
	  "" },
	{ "mbox From_ line dropped, lone dot ends",
	  "From s@x Mon Jan  1 00:00:00 2024\nTo: a@x.org\n\nbody\n.\nmore\n",
	  0, "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE
	  "\r\nbody\r\n", "" },
	{ "with -i the dot is text",
	  "To: a@x.org\n\n.\n..\nmore", F_I,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE
	  "\r\n.\r\n..\r\nmore\r\n", "" },
	{ "well-formed fields pass byte for byte",
	  "From: \"Odd,  Name\" <o@x.org>\nTo:  a@x.org ,\n\tb@y.org\n"
	  "Date: Mon, 1 Jan 2024 00:00:00 +0100\nMessage-Id: <1@x>\n"
	  "Subject:   =?utf-8?q?caf=C3=A9?=\nX-Custom:no-space\n\nb\n", 0,
	  "From: \"Odd,  Name\" <o@x.org>\r\nTo:  a@x.org ,\r\n\tb@y.org\r\n"
	  "Date: Mon, 1 Jan 2024 00:00:00 +0100\r\nMessage-Id: <1@x>\r\n"
	  "Subject:   =?utf-8?q?caf=C3=A9?=\r\nX-Custom:no-space\r\n\r\n"
	  "b\r\n", "" },
	{ "Bcc, Resent-Bcc, Return-Path, Content-Length removed",
	  "Return-Path: <x@y>\nTo: a@x.org\nBcc: b@x.org\n"
	  "Resent-Bcc: c@x.org\nContent-Length: 5\n\nb\n", 0,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE "\r\nb\r\n",
	  "" },
	{ "remove_bcc_headers off", "To: a@x.org\nBcc: b@x.org\n\nb\n",
	  F_KEEPBCC, "To: a@x.org\r\nBcc: b@x.org\r\n"
	  "From: Test <s@example.org>\r\n" DATE "\r\nb\r\n", "" },
	{ "undisclosed_recipients on",
	  "To: a@x.org\nCc: c@x.org\nBcc: b@x.org\nSubject: s\n\nb\n",
	  F_UNDISC | F_T, "Subject: s\r\nFrom: Test <s@example.org>\r\n"
	  DATE "To: undisclosed-recipients:;\r\n\r\nb\r\n",
	  "a@x.org c@x.org b@x.org" },
	{ "no To and no Cc", "Subject: s\nBcc: b@x.org\n\nb\n", 0,
	  "Subject: s\r\nFrom: Test <s@example.org>\r\n" DATE
	  "To: undisclosed-recipients:;\r\n\r\nb\r\n", "" },
	{ "set_from_header on replaces From",
	  "From: other@x.org\nTo: a@x.org\n\nb\n", F_FROMON,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE "\r\nb\r\n",
	  "" },
	{ "set_from_header off, set_date_header off",
	  "To: a@x.org\n\nb\n", F_NOFROM | F_NODATE,
	  "To: a@x.org\r\n\r\nb\r\n", "" },
	{ "cron: bare local names qualified",
	  "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@h> ls\n\n"
	  "out\n", F_T,
	  "From: root@example.org (Cron Daemon)\r\nTo: root@example.org\r\n"
	  "Subject: Cron <root@h> ls\r\n" DATE "\r\nout\r\n",
	  "root@example.org" },
	{ "the tutorial's headers, raw",
	  "From: Python爱好者 <py@163.com>\nTo: 管理员 <admin@qq.com>\n"
	  "Subject: 来自SMTP的问候……\n\nhello, send by Python...\n", 0,
	  "From: =?utf-8?b?UHl0aG9u54ix5aW96ICF?= <py@163.com>\r\n"
	  "To: =?utf-8?b?566h55CG5ZGY?= <admin@qq.com>\r\n"
	  "Subject: =?utf-8?b?5p2l6IeqU01UUOeahOmXruWAmeKApuKApg==?=\r\n"
	  DATE "\r\nhello, send by Python...\r\n", "" },
	{ "8-bit body without MIME headers",
	  "To: a@x.org\n\nGrüße\n", 0,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE
	  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n", "" },
	{ "8-bit body, not UTF-8",
	  "To: a@x.org\n\nGr\xfc\xdf" "e\n", 0,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE
	  "MIME-Version: 1.0\r\n"
	  "Content-Type: text/plain; charset=unknown-8bit\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdf" "e\r\n", "" },
	{ "Content-Type but no encoding: 8bit",
	  "To: a@x.org\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=UTF-8\n\né\n", 0,
	  "To: a@x.org\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: text/plain; charset=UTF-8\r\n"
	  "From: Test <s@example.org>\r\n" DATE
	  "Content-Transfer-Encoding: 8bit\r\n\r\né\r\n", "" },
	{ "no blank line after the headers",
	  "To: a@x.org\nSubject: s\nThis is the body.\n", 0,
	  "To: a@x.org\r\nSubject: s\r\nFrom: Test <s@example.org>\r\n"
	  DATE "\r\nThis is the body.\r\n", "" },
	{ "a header line without colon starts the body",
	  "To: a@x.org\nnot a header\nSubject: s\n\nb\n", 0,
	  "To: a@x.org\r\nFrom: Test <s@example.org>\r\n" DATE
	  "\r\nnot a header\r\nSubject: s\r\n\r\nb\r\n", "" },
	{ "-t with Resent: only the newest block",
	  "Resent-To: new@x.org\nResent-Cc: new2@x.org\nResent-Date: x\n"
	  "Resent-Date: y\nResent-To: old@x.org\nTo: orig@x.org\n"
	  "Bcc: ob@x.org\n\nb\n", F_T | F_NODATE | F_NOFROM,
	  "Resent-To: new@x.org\r\nResent-Cc: new2@x.org\r\n"
	  "Resent-Date: x\r\nResent-Date: y\r\nResent-To: old@x.org\r\n"
	  "To: orig@x.org\r\n\r\nb\r\n", "new@x.org new2@x.org" },
	{ "-t: duplicates removed, groups, quoted local parts",
	  "To: A <a@x.org>, list: b@x.org, a@X.ORG;\n"
	  "Cc: \"john doe\"@x.org, <@r.example:c@x.org>\n\nb\n",
	  F_T | F_NODATE | F_NOFROM,
	  "To: A <a@x.org>, list: b@x.org, a@X.ORG;\r\n"
	  "Cc: \"john doe\"@x.org, <@r.example:c@x.org>\r\n\r\nb\r\n",
	  "a@x.org b@x.org \"john doe\"@x.org c@x.org" },
	{ "-t: an unparsable recipient", "To: <a@x.org\n\nb\n", F_T,
	  NULL, "To: cannot parse address '<a@x.org': expected '>'" },
	{ "an unfoldable structured field",
	  "To: a@x.org\nMessage-ID: <"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "@x>\n\nb\n", 0, NULL,
	  "header field Message-ID cannot be folded to 998 octets" },
	{ "a long 8-bit subject is folded as encoded words",
	  "To: a@x.org\nSubject: Re: 来自SMTP的问候……来自SMTP的问候……"
	  "来自SMTP的问候…… and more\n\nb\n", F_NOFROM | F_NODATE,
	  "To: a@x.org\r\nSubject: Re:\r\n"
	  " =?utf-8?b?5p2l6IeqU01UUOeahOmXruWAmeKApuKApuadpeiHqlNNVFDnmoTpl67lgJk=?=\r\n"
	  " =?utf-8?b?4oCm4oCm5p2l6IeqU01UUOeahOmXruWAmeKApuKApg==?= and more\r\n"
	  "\r\nb\r\n", "" },
	{ "downgrade: the 8-bit part only",
	  "To: a@x.org\nMIME-Version: 1.0\n"
	  "Content-Type: multipart/mixed; boundary=\"b1\"\n\npre\n--b1\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: 8bit\n\nGrüße = 1 \n--b1\n"
	  "Content-Type: text/plain\n\nascii\n--b1--\nepi\n",
	  F_DOWN | F_NOFROM | F_NODATE,
	  "To: a@x.org\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npre\r\n"
	  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	  "Gr=C3=BC=C3=9Fe =3D 1=20\r\n--b1\r\n"
	  "Content-Type: text/plain\r\n\r\nascii\r\n--b1--\r\nepi\r\n", "" },
	{ "downgrade: a soft break never starts a line with \"--\"",
	  "To: a@x.org\nMIME-Version: 1.0\n"
	  "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
	  "Content-Type: text/plain; charset=utf-8\n\n\xc3\xbc"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "--b1 x\n-- \n--b1--\n",
	  F_DOWN | F_NOFROM | F_NODATE,
	  "To: a@x.org\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=BC"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "=\r\n=2D-b1 x\r\n=2D-=20\r\n--b1--\r\n", "" },
	{ "downgrade: a plain 8-bit message",
	  "To: a@x.org\n\nGrüße\n", F_DOWN | F_NOFROM | F_NODATE,
	  "To: a@x.org\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	  "Gr=C3=BC=C3=9Fe\r\n", "" },
};

/* Write in to a file and prepare it; the result as a string. */
static char *
prep(const char *in, size_t inlen, int flags, struct msg *m, struct err *e)
{
	struct msgopts	 o;
	struct msg	 d;
	char		 path[] = "/tmp/t_msg.XXXXXX", *out;
	int		 fd;
	ssize_t		 n;

	memset(&o, 0, sizeof(o));
	memset(e, 0, sizeof(*e));
	o.extract = (flags & F_T) != 0;
	o.ignoredots = (flags & F_I) != 0;
	o.set_msgid = flags & F_MSGID ? MSG_AUTO : MSG_OFF;
	o.set_from = flags & F_FROMON ? MSG_ON : flags & F_NOFROM ?
	    MSG_OFF : MSG_AUTO;
	o.set_date = flags & F_NODATE ? MSG_OFF : MSG_AUTO;
	o.keep_bcc = (flags & F_KEEPBCC) != 0;
	o.undisclosed = (flags & F_UNDISC) != 0;
	o.sender = "s@example.org";
	o.fullname = "Test";
	o.maildomain = "example.org";
	o.now = NOW;
	if ((fd = mkstemp(path)) == -1)
		abort();
	unlink(path);
	if (write(fd, in, inlen) != (ssize_t)inlen || lseek(fd, 0, 0) != 0)
		abort();
	n = msg_read(fd, &o, m, e);
	close(fd);
	if (n == -1)
		return NULL;
	if (flags & F_DOWN) {
		if (msg_downgrade(m, &d, NULL, e) == -1)
			abort();
		close(m->fd);
		m->fd = d.fd;
		m->size = d.size;
		m->eightbit = d.eightbit;
	}
	out = xcalloc(1, (size_t)m->size + 1);
	if (pread(m->fd, out, (size_t)m->size, 0) != m->size)
		abort();
	return out;
}

static void
test_cases(void)
{
	struct msg	 m;
	struct err	 e;
	char		*out, rc[1024];
	size_t		 i, k, len;

	for (i = 0; i < NELEM(cases); i++) {
		len = strlen(cases[i].in);
		out = prep(cases[i].in, len, cases[i].flags, &m, &e);
		if (cases[i].out == NULL) {
			CHECK(out == NULL && e.cls == ERR_DATA,
			    "%s: accepted", cases[i].name);
			CHECK_STR(e.msg, cases[i].rcpts, cases[i].name);
			free(out);
			continue;
		}
		if (out == NULL) {
			CHECK(0, "%s: %s", cases[i].name, e.msg);
			continue;
		}
		CHECK_STR(out, cases[i].out, cases[i].name);
		rc[0] = '\0';
		for (k = 0; k < m.nrcpt; k++) {
			if (k > 0)
				(void)strlcat(rc, " ", sizeof(rc));
			(void)strlcat(rc, m.rcpts[k], sizeof(rc));
		}
		CHECK_STR(rc, cases[i].rcpts, cases[i].name);
		free(out);
		msg_close(&m);
	}
}

/* Date in three zones, as one exact string each (RFC 5322 section 3.3). */
static void
test_date(void)
{
	static const struct {
		const char *tz, *want;
	} d[] = {
		{ "UTC0", "Tue, 14 Nov 2023 22:13:20 +0000" },
		{ "CST-8", "Wed, 15 Nov 2023 06:13:20 +0800" },
		{ "EST5", "Tue, 14 Nov 2023 17:13:20 -0500" },
		{ "IST-5:30", "Wed, 15 Nov 2023 03:43:20 +0530" },
		{ "NST3:30", "Tue, 14 Nov 2023 18:43:20 -0330" },
	};
	char	buf[64];
	size_t	i;

	for (i = 0; i < NELEM(d); i++) {
		setenv("TZ", d[i].tz, 1);
		tzset();
		msg_date(NOW, buf, sizeof(buf));
		CHECK_STR(buf, d[i].want, d[i].tz);
	}
	setenv("TZ", "UTC0", 1);
	tzset();
	msg_date(86400 * 31 + 5, buf, sizeof(buf));
	CHECK_STR(buf, "Sun, 1 Feb 1970 00:00:05 +0000", "one-digit day");
}

/*
 * Message-ID: exactly "<" 14 digits of UTC time "." 32 lowercase hex
 * "@" maildomain ">", and two never equal.
 */
static void
test_msgid(void)
{
	struct msg	 m;
	struct err	 e;
	char		 a[256], b[256], *out, *p;
	const char	*want = "<20231114221320.";
	size_t		 i;

	msg_msgid(NOW, "example.org", a, sizeof(a));
	msg_msgid(NOW, "example.org", b, sizeof(b));
	CHECK(strcmp(a, b) != 0, "two Message-IDs are equal: %s", a);
	CHECK(strlen(a) == strlen(want) + 32 + strlen("@example.org>"),
	    "Message-ID length: %s", a);
	CHECK(strncmp(a, want, strlen(want)) == 0, "prefix: %s", a);
	for (i = 0; i < 32; i++)
		CHECK(isxdigit((unsigned char)a[strlen(want) + i]) &&
		    !isupper((unsigned char)a[strlen(want) + i]),
		    "hex: %s", a);
	CHECK_STR(a + strlen(want) + 32, "@example.org>", "domain");
	out = prep("To: a@x.org\n\nb\n", 15, F_MSGID | F_NOFROM | F_NODATE,
	    &m, &e);
	CHECK(out != NULL && (p = strstr(out, "\r\nMessage-ID: <2023111422"
	    "1320.")) != NULL && strlen(p) == 2 + 12 + 16 + 32 +
	    strlen("@example.org>\r\n\r\nb\r\n") &&
	    strcmp(p + 2 + 12 + 16 + 32, "@example.org>\r\n\r\nb\r\n") == 0,
	    "added Message-ID: %s", out);
	free(out);
	msg_close(&m);
}

/* NUL bytes: refused with the line number, in the header or the body. */
static void
test_nul(void)
{
	static const char h[] = "To: a@x.org\nX: a\0b\n\nb\n";
	static const char b[] = "To: a@x.org\n\nb\r\n\0\n";
	struct msg	 m;
	struct err	 e;
	char		*out;

	out = prep(h, sizeof(h) - 1, 0, &m, &e);
	CHECK(out == NULL && e.cls == ERR_DATA, "NUL in header accepted");
	CHECK_STR(e.msg, "NUL byte in the message on line 2", "NUL header");
	out = prep(b, sizeof(b) - 1, 0, &m, &e);
	CHECK(out == NULL && e.cls == ERR_DATA, "NUL in body accepted");
	CHECK_STR(e.msg, "NUL byte in the message on line 4", "NUL body");
}

/*
 * The header block may be exactly 1 MiB (1048576 bytes with its CRLFs,
 * the empty line not counted) and not one byte more.
 */
static void
test_hdrmax(void)
{
	struct msg	 m;
	struct err	 e;
	char		*in, *out;
	size_t		 len = 1048576, i;

	in = xcalloc(1, len + 16);
	/* "X: aaa...\r\n" lines of 1000 bytes, the last one shorter */
	for (i = 0; i < len; i += 1000) {
		size_t l = len - i < 1000 ? len - i : 1000;

		memset(in + i, 'a', l);
		memcpy(in + i, "X: ", 3);
		memcpy(in + i + l - 2, "\r\n", 2);
	}
	memcpy(in + len, "\r\nb\r\n", 5);
	out = prep(in, len + 5, F_NOFROM | F_NODATE, &m, &e);
	CHECK(out != NULL, "1 MiB header refused: %s", e.msg);
	free(out);
	msg_close(&m);
	memcpy(in + len - 2, "a\r\n\r\nb\r\n", 8);
	out = prep(in, len + 6, F_NOFROM | F_NODATE, &m, &e);
	CHECK(out == NULL && e.cls == ERR_DATA, "1 MiB + 1 accepted");
	CHECK_STR(e.msg, "the header block exceeds 1 MiB (1048576 bytes) "
	    "at line 1049", "1 MiB + 1");
	free(in);
}

/*
 * A body line over 998 octets: the part becomes quoted-printable at
 * once, MIME-Version added; lines of 76 at most, decoding to the input.
 */
static void
test_longline(void)
{
	struct msg	 m;
	struct err	 e;
	static char	 in[3000];
	char		*out, *p;
	const char	*want;
	size_t		 i;

	memcpy(in, "To: a@x.org\n\n", 13);
	memset(in + 13, 'x', 2000);
	memcpy(in + 2013, "\n", 1);
	out = prep(in, strlen(in), F_NOFROM | F_NODATE, &m, &e);
	CHECK(out != NULL, "long line: %s", e.msg);
	if (out == NULL)
		return;
	CHECK(m.maxline <= 76, "maxline %zu", m.maxline);
	p = strstr(out, "\r\n\r\n");
	want = "To: a@x.org\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable";
	CHECK(p != NULL && strncmp(out, want, strlen(want)) == 0,
	    "long line header: %s", out);
	/* 26 lines of 75 x and a soft break, then 50 x */
	for (i = 0, p += 4; i < 26; i++, p += 78)
		CHECK(strncmp(p + 75, "=\r\n", 3) == 0, "soft break %zu", i);
	CHECK(strlen(p) == 52 && p[50] == '\r', "tail: %s", p);
	free(out);
	msg_close(&m);
}

/*
 * A body line of 65535 octets, its CRLF across the 64 KiB pieces that
 * mime.c reads: still one hard line end in quoted-printable, not "=0D"
 * and a line end (found by fuzz_qp).
 */
static void
test_longline_crlf(void)
{
	struct msg	 m;
	struct err	 e;
	static char	 in[13 + 65535 + 6];
	char		*out;
	size_t		 n;

	memcpy(in, "To: a@x.org\n\n", 13);
	memset(in + 13, 'x', 65535);
	memcpy(in + 13 + 65535, "\r\nok\n", 5);
	out = prep(in, strlen(in), F_NOFROM | F_NODATE, &m, &e);
	CHECK(out != NULL, "64 KiB line: %s", e.msg);
	if (out == NULL)
		return;
	n = strlen(out);
	CHECK(strstr(out, "=0D") == NULL && n > 7 &&
	    strcmp(out + n - 7, "x\r\nok\r\n") == 0, "64 KiB line: %s",
	    out + (n > 40 ? n - 40 : 0));
	free(out);
	msg_close(&m);
}

int
main(void)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	test_cases();
	test_nul();
	test_hdrmax();
	test_longline();
	test_longline_crlf();
	test_date();
	test_msgid();
	return t_done("t_msg");
}
