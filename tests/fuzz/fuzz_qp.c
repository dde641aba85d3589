/*
 * The quoted-printable re-encoding (mime.c), checked against a message
 * whose structure this file knows, so that the result can be judged
 * exactly: fuzz_msg feeds arbitrary messages and checks only the wire
 * rules.  The input's first byte chooses a single-part message or a
 * multipart/mixed one (boundary "b", the shortest that a soft line
 * break can forge); the rest is the body, or the parts split at NUL
 * bytes, each led by a byte that chooses its Content-Transfer-Encoding.
 * A body line starting "--" gets "x" for its first "-" (RFC 2046 section
 * 5.1.1: no part may hold a line starting with its boundary).
 *
 * The message goes through msg_read, then msg_downgrade (what a server
 * without 8BITMIME gets).  Of both files: the wire rules (check_wire);
 * the preamble, boundaries and epilogue where they were; each part that
 * was not re-encoded is its input with every line end made CRLF (CRLF,
 * bare CR and bare LF each count as one line end); a part is re-encoded
 * exactly when it is in an identity encoding (none, 7bit, 8bit, binary)
 * and has a line over 998 octets, or, in the downgrade, an 8-bit byte;
 * a re-encoded part says quoted-printable, has lines of at most 76
 * characters of printable ASCII with no white space at their end, no
 * line starting with its boundary, and decodes (RFC 2045 section 6.7)
 * to its input with line ends made CRLF.  The downgrade is 7-bit unless
 * a part labelled base64 holds 8-bit bytes (nothing may re-encode
 * those).  msg_read refuses the message exactly when a line over 998
 * octets is in a base64 part.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"
#include "fuzz.h"

#define MAXPARTS	16
#define HEAD		"From: s@example.org\r\nTo: t@example.org\r\n" \
			"Subject: qp\r\n"				\
			"Date: Fri, 27 Nov 2026 00:00:00 +0000\r\n"	\
			"Message-ID: <1@example.org>\r\n"
#define CTE		"Content-Transfer-Encoding: "

static const char *const ctes[] = { NULL, "7bit", "8bit", "binary",
    "base64" };

struct part {
	const char	*cte;
	int		 identity;
	struct strbuf	 want;		/* the body, line ends made CRLF */
	size_t		 maxline;
	int		 eightbit;
};

/* The body of a part, into the message m and as expected into p->want. */
static void
add_body(struct part *p, struct strbuf *m, const unsigned char *d, size_t n,
    int multi)
{
	size_t	i, col = 0;
	int	bol = 1;
	char	c;

	util_stradd(&p->want, "", 0);
	for (i = 0; i < n; i++) {
		c = (char)d[i];
		if (c == '\0')
			c = ' ';	/* msg_read refuses NUL */
		if (multi && bol && c == '-' && i + 1 < n && d[i + 1] == '-')
			c = 'x';
		util_stradd(m, &c, 1);
		bol = c == '\r' || c == '\n';
		if (c == '\r' && i + 1 < n && d[i + 1] == '\n') {
			util_stradd(m, "\n", 1);
			i++;
		}
		if (bol) {
			util_stradds(&p->want, "\r\n");
			col = 0;
			continue;
		}
		util_stradd(&p->want, &c, 1);
		if (++col > p->maxline)
			p->maxline = col;
		p->eightbit |= (unsigned char)c >= 0x80;
	}
	if (!bol) {
		/* msg_read ends the text, and the boundary needs its CRLF */
		util_stradds(m, "\r\n");
		util_stradds(&p->want, "\r\n");
	}
}

/* "=XX" with upper-case hex (RFC 2045 section 6.7 (1)), or -1. */
static int
unhex(const char *p)
{
	static const char	hex[] = "0123456789ABCDEF";
	const char		*a, *b;

	if (p[0] == '\0' || p[1] == '\0' || (a = strchr(hex, p[0])) == NULL ||
	    (b = strchr(hex, p[1])) == NULL)
		return -1;
	return (int)(a - hex) * 16 + (int)(b - hex);
}

/* One line of a quoted-printable body, p[0..len) without its CRLF. */
static void
qp_line(const char *p, size_t len, int multi, struct strbuf *out)
{
	size_t	i;
	int	soft, c;
	char	ch;

	INVARIANT(len <= 76);
	/* RFC 2046 section 5.1.1: not even as a line's prefix */
	INVARIANT(!multi || len < 3 || memcmp(p, "--b", 3) != 0);
	if ((soft = len > 0 && p[len - 1] == '=') != 0)
		len--;
	/* rule 3: white space may end a line only before a soft break */
	INVARIANT(soft || len == 0 || (p[len - 1] != ' ' &&
	    p[len - 1] != '\t'));
	for (i = 0; i < len; i++) {
		ch = p[i];
		if (ch == '=') {
			INVARIANT(i + 2 < len && (c = unhex(p + i + 1)) != -1);
			ch = (char)c;
			i += 2;
		} else
			INVARIANT(ch == ' ' || ch == '\t' ||
			    (ch >= 33 && ch <= 126));
		util_stradd(out, &ch, 1);
	}
	if (!soft)
		util_stradds(out, "\r\n");
}

/* The decoding of a quoted-printable body, every line checked. */
static void
qp_decode(const char *p, size_t n, int multi, struct strbuf *out)
{
	const char	*crlf;

	util_stradd(out, "", 0);
	while (n > 0) {
		INVARIANT((crlf = memmem(p, n, "\r\n", 2)) != NULL);
		qp_line(p, (size_t)(crlf - p), multi, out);
		n -= (size_t)(crlf + 2 - p);
		p = crlf + 2;
	}
}

static int
recoded(const struct part *p, int down)
{
	return p->identity && (p->maxline > 998 || (down && p->eightbit));
}

/* Whether header text h holds the field "Content-Transfer-Encoding: v". */
static int
has_cte(const char *h, size_t hl, const char *v)
{
	char	line[64];

	(void)snprintf(line, sizeof(line), "\r\n" CTE "%s\r\n", v);
	return memmem(h, hl, line, strlen(line)) != NULL;
}

/* A part's header h (from its CRLF before the first field) and body. */
static void
check_part(const struct part *p, const char *h, size_t hl, const char *b,
    size_t bl, int top, int down)
{
	struct strbuf	 dec = { NULL, 0, 0 };
	size_t		 i;

	if (!recoded(p, down)) {
		INVARIANT(p->cte == NULL || has_cte(h, hl, p->cte));
		INVARIANT(bl == p->want.len && memcmp(b, p->want.s, bl) == 0);
		return;
	}
	INVARIANT(has_cte(h, hl, "quoted-printable"));
	INVARIANT(p->cte == NULL || !has_cte(h, hl, p->cte));
	/* RFC 2045 section 4: the encoding means nothing without it */
	INVARIANT(!top || memmem(h, hl, "\r\nMIME-Version: 1.0\r\n",
	    21) != NULL);
	for (i = 0; i < bl; i++)
		INVARIANT((unsigned char)b[i] < 0x80);
	qp_decode(b, bl, !top, &dec);
	INVARIANT(dec.len == p->want.len &&
	    memcmp(dec.s, p->want.s, dec.len) == 0);
	free(dec.s);
}

/* Where the next line starting "--b" is, from o on; n if none. */
static size_t
next_boundary(const char *s, size_t n, size_t o)
{
	const char	*lf;

	while (o < n && (n - o < 3 || memcmp(s + o, "--b", 3) != 0)) {
		if ((lf = memchr(s + o, '\n', n - o)) == NULL)
			return n;
		o = (size_t)(lf - s) + 1;
	}
	return o;
}

/* A prepared file (m) against the parts, as read or downgraded. */
static void
check_file(const struct msg *m, const struct part *parts, size_t np,
    int multi, int down)
{
	char		*s, *e;
	size_t		 n, i, o, h, k;
	int		 eight = 0, want8 = 0;

	INVARIANT(m->size > 0 && m->size < 64 * 1024 * 1024);
	n = (size_t)m->size;
	INVARIANT((s = malloc(n)) != NULL);
	INVARIANT(pread(m->fd, s, n, 0) == (ssize_t)n);
	check_wire((unsigned char *)s, n);
	for (i = 0; i < n; i++)
		eight |= (unsigned char)s[i] >= 0x80;
	for (i = 0; i < np; i++)
		want8 |= parts[i].eightbit && !recoded(&parts[i], down);
	INVARIANT(eight == want8 && m->eightbit == eight);
	/* the top header's last CRLF is kept with it, as "\r\n--b" is */
	INVARIANT((e = memmem(s, n, "\r\n\r\n", 4)) != NULL);
	o = (size_t)(e - s) + 4;
	if (!multi) {
		check_part(&parts[0], s, o, s + o, n - o, 1, down);
		free(s);
		return;
	}
	INVARIANT(n - o >= 5 && memcmp(s + o, "pre\r\n", 5) == 0);
	o += 5;
	for (i = 0; i < np; i++) {
		INVARIANT(n - o >= 5 && memcmp(s + o, "--b\r\n", 5) == 0);
		h = o + 3;
		INVARIANT((e = memmem(s + h, n - h, "\r\n\r\n", 4)) != NULL);
		o = (size_t)(e - s) + 4;
		k = next_boundary(s, n, o);
		check_part(&parts[i], s + h, o - h, s + o, k - o, 0, down);
		o = k;
	}
	INVARIANT(n - o == 12 && memcmp(s + o, "--b--\r\nepi\r\n", 12) == 0);
	free(s);
}

/* The message the input describes (see the top of this file). */
static size_t
build(const unsigned char *d, size_t n, struct part *parts, int *multi,
    struct strbuf *m)
{
	const unsigned char	*z;
	size_t			 np = 0, k;
	struct part		*p;

	*multi = d[0] & 1;
	util_stradds(m, HEAD);
	if (!*multi) {
		p = &parts[np++];
		p->cte = ctes[(d[0] >> 1) % 5];
		p->identity = p->cte == NULL || strcmp(p->cte, "base64") != 0;
		if (p->cte != NULL) {
			util_stradds(m, "MIME-Version: 1.0\r\nContent-Type: "
			    "text/plain; charset=utf-8\r\n" CTE);
			util_stradds(m, p->cte);
			util_stradds(m, "\r\n");
		}
		util_stradds(m, "\r\n");
		add_body(p, m, d + 1, n - 1, 0);
		return np;
	}
	util_stradds(m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=\"b\"\r\n\r\npre\r\n");
	for (d++, n--; np < MAXPARTS && (np == 0 || n > 0); np++) {
		p = &parts[np];
		if ((z = memchr(d, '\0', n)) == NULL || np + 1 == MAXPARTS)
			k = n;
		else
			k = (size_t)(z - d);
		p->cte = k > 0 ? ctes[d[0] % 5] : NULL;
		p->identity = p->cte == NULL || strcmp(p->cte, "base64") != 0;
		util_stradds(m, "--b\r\nContent-Type: text/plain; "
		    "charset=utf-8\r\n");
		if (p->cte != NULL) {
			util_stradds(m, CTE);
			util_stradds(m, p->cte);
			util_stradds(m, "\r\n");
		}
		util_stradds(m, "\r\n");
		if (k > 0)
			add_body(p, m, d + 1, k - 1, 1);
		else
			util_stradd(&p->want, "", 0);
		d += k;
		n -= k;
		if (n > 0) {	/* the NUL */
			d++;
			n--;
		}
	}
	util_stradds(m, "--b--\r\nepi\r\n");
	return np;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct part	 parts[MAXPARTS];
	struct strbuf	 m = { NULL, 0, 0 };
	struct msgopts	 o;
	struct msg	 r, d;
	struct err	 e;
	size_t		 np, i;
	int		 fd, multi, refuse = 0;

	if (size == 0)
		return 0;
	memset(parts, 0, sizeof(parts));
	np = build(data, size, parts, &multi, &m);
	for (i = 0; i < np; i++)
		refuse |= !parts[i].identity && parts[i].maxline > 998;
	INVARIANT((fd = memfd_create("fuzz", 0)) != -1);
	INVARIANT(write(fd, m.s, m.len) == (ssize_t)m.len);
	INVARIANT(lseek(fd, 0, SEEK_SET) == 0);
	memset(&o, 0, sizeof(o));
	o.ignoredots = 1;
	o.sender = "s@example.org";
	o.maildomain = "example.org";
	o.now = 1795000000;
	memset(&r, 0, sizeof(r));
	r.fd = -1;
	memset(&e, 0, sizeof(e));
	if (msg_read(fd, &o, &r, &e) == -1) {
		INVARIANT(refuse && e.cls == ERR_DATA);
		goto out;
	}
	INVARIANT(!refuse);
	check_file(&r, parts, np, multi, 0);
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	INVARIANT(msg_downgrade(&r, &d, NULL, &e) == 0);
	check_file(&d, parts, np, multi, 1);
	msg_close(&d);
out:
	msg_close(&r);
	close(fd);
	for (i = 0; i < np; i++)
		free(parts[i].want.s);
	free(m.s);
	return 0;
}
