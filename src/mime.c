/*
 * The MIME structure of a prepared message and the writing of the file
 * the client sends from.  A scan finds the leaf parts that must be
 * re-encoded quoted-printable: text with a line over 998 octets (RFC 5322
 * section 2.1.1), and, for a server without 8BITMIME, 8-bit text in an
 * identity encoding (RFC 6152 section 3 leaves that conversion to the
 * sender).  The file is then written with those parts re-encoded and
 * everything else, boundaries included, copied byte for byte.  Streamed:
 * memory does not grow with the size of the message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"

#define LINE_MAX_OCTETS	998		/* RFC 5322 section 2.1.1 */
#define QP_LINE		76		/* RFC 2045 section 6.7 (5) */
#define MIME_DEPTH	32
#define BND_MAX		70		/* RFC 2046 section 5.1.1 */

/* The output file and what the client needs to know about it. */
struct out {
	struct msgbuf	 w;		/* w.dk hashes what is written */
	int		 eightbit;
	size_t		 maxline, col;
};

/* --- MIME: which parts to re-encode ------------------------------------ */

/* A file read as lines, in pieces of at most MSG_IOSZ bytes. */
struct lr {
	int		 fd;
	off_t		 off;		/* file offset of buf[0] */
	off_t		 end;		/* where the message ends */
	char		 buf[MSG_IOSZ];
	size_t		 pos, len;
	int		 eof;
};

static int
lr_fill(struct lr *r, struct err *e)
{
	ssize_t	n;

	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->off += (off_t)r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	while (r->len < sizeof(r->buf) && !r->eof) {
		off_t left = r->end - r->off - (off_t)r->len;

		n = left <= 0 ? 0 : pread(r->fd, r->buf + r->len,
		    left < (off_t)(sizeof(r->buf) - r->len) ? (size_t)left :
		    sizeof(r->buf) - r->len, r->off + (off_t)r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_IO, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			r->eof = 1;
		r->len += (size_t)n;
	}
	return 0;
}

/*
 * The next piece of a line: it ends the line (*eol) or the line goes on.
 * The first piece of a line holds all of it up to MSG_IOSZ bytes, enough
 * for any boundary line; a piece that does not end its line does not end
 * in CR, so that a CRLF is one line end to the caller.  Returns 0 at the
 * end of the file.
 */
static int
lr_next(struct lr *r, const char **p, size_t *n, int *eol, off_t *at,
    struct err *e)
{
	char	*nl;

	nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
	if (nl == NULL && !r->eof) {
		if (lr_fill(r, e) == -1)
			return -1;
		nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
	}
	if (r->pos == r->len)
		return 0;
	*at = r->off + (off_t)r->pos;
	*p = r->buf + r->pos;
	*n = nl != NULL ? (size_t)(nl + 1 - *p) : r->len - r->pos;
	*eol = nl != NULL || r->eof;
	/* a CRLF is never split: its CR waits for the next piece */
	if (!*eol && *n > 1 && (*p)[*n - 1] == '\r')
		(*n)--;
	r->pos += *n;
	return 1;
}

/* A leaf part to re-encode: its header, its body up to the boundary. */
struct recode {
	off_t		 hoff;		/* -1: the top-level header */
	off_t		 boff, eoff;
};

enum scstate { SC_HDR, SC_LEAF, SC_SKIP };

struct scan {
	int		 downgrade;
	char		 bnd[MIME_DEPTH][BND_MAX + 1];
	size_t		 depth;
	enum scstate	 state;
	struct strbuf	 hbuf;		/* the header of the part being read */
	int		 hover;		/* it was too long to keep */
	off_t		 hoff;
	struct recode	 cur;
	int		 identity;	/* 7bit, 8bit, binary or none */
	int		 opaque;	/* a multipart nested too deep */
	int		 deep8;		/* 8-bit text inside such a one */
	int		 cur8;
	size_t		 curmax, col;
	struct recode	*rv;
	size_t		 nrv;
};

#define PARTHDR_MAX	65536

/* Where the line at i ends (its CR, or n). */
static size_t
line_end(const char *h, size_t n, size_t i)
{
	while (i < n && h[i] != '\r' && h[i] != '\n')
		i++;
	return i;
}

static size_t
next_line(const char *h, size_t n, size_t i)
{
	i = line_end(h, n, i);
	if (i < n && h[i] == '\r')
		i++;
	if (i < n && h[i] == '\n')
		i++;
	return i;
}

/* The unfolded value of the first field name in header text h, or NULL. */
static char *
hdr_get(const char *h, size_t n, const char *name)
{
	size_t	i, k, nl = strlen(name), len;

	for (i = 0; i < n; i = next_line(h, n, i)) {
		if (n - i <= nl || strncasecmp(h + i, name, nl) != 0 ||
		    h[i + nl] != ':')
			continue;
		for (k = next_line(h, n, i); k < n && (h[k] == ' ' ||
		    h[k] == '\t'); k = next_line(h, n, k))
			;
		return msg_unfold(h + i + nl + 1, k - (i + nl + 1), &len);
	}
	return NULL;
}

static const char *
skip_cfws(const char *p)
{
	int	depth;

	for (;;) {
		p += strspn(p, " \t");
		if (*p != '(')
			return p;
		for (depth = 0; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

/* A MIME token (RFC 2045 section 5.1), lowercased into buf. */
static const char *
token(const char *p, char *buf, size_t sz)
{
	size_t	k = 0;

	while (*p != '\0' && (unsigned char)*p > 32 && (unsigned char)*p < 127 &&
	    strchr("()<>@,;:\\\"[]?=", *p) == NULL) {
		if (k + 1 < sz)
			buf[k++] = (char)tolower((unsigned char)*p);
		p++;
	}
	buf[k] = '\0';
	return p;
}

/* The media type of a Content-Type value, and its boundary parameter. */
static void
ctype(const char *v, char *type, size_t tsz, char *bnd, size_t bsz)
{
	const char	*p = skip_cfws(v);
	char		 name[64], val[BND_MAX + 2];
	size_t		 k;

	p = token(p, type, tsz);	/* '/' is a token character here */
	*bnd = '\0';
	while ((p = strchr(p, ';')) != NULL) {
		p = token(skip_cfws(p + 1), name, sizeof(name));
		p = skip_cfws(p);
		if (*p != '=')
			continue;
		p = skip_cfws(p + 1);
		k = 0;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (k + 1 < sizeof(val))
					val[k++] = *p;
			}
			val[k] = '\0';
		} else {
			while (*p != '\0' && *p != ';' && *p != ' ' &&
			    *p != '\t' && k + 1 < sizeof(val))
				val[k++] = *p++;
			val[k] = '\0';
		}
		if (strcmp(name, "boundary") == 0 && k > 0 && k <= BND_MAX)
			(void)strlcpy(bnd, val, bsz);
	}
}

/* An entity's header is complete: a multipart, a message, or a leaf. */
static void
decide(struct scan *sc, const char *h, size_t n, off_t hoff, off_t next)
{
	char	 type[128] = "", bnd[BND_MAX + 1] = "", cte[32] = "", *v;

	if ((v = hdr_get(h, n, "Content-Type")) != NULL) {
		ctype(v, type, sizeof(type), bnd, sizeof(bnd));
		free(v);
	}
	if ((v = hdr_get(h, n, "Content-Transfer-Encoding")) != NULL) {
		(void)token(skip_cfws(v), cte, sizeof(cte));
		free(v);
	}
	sc->hbuf.len = 0;
	sc->hover = 0;
	if (strncmp(type, "multipart/", 10) == 0 && *bnd != '\0' &&
	    sc->depth < MIME_DEPTH) {
		(void)strlcpy(sc->bnd[sc->depth++], bnd, BND_MAX + 1);
		sc->state = SC_SKIP;		/* the preamble */
		return;
	}
	if (strcmp(type, "message/rfc822") == 0 ||
	    strcmp(type, "message/global") == 0) {
		sc->state = SC_HDR;		/* the enclosed message */
		sc->hoff = next;
		return;
	}
	/*
	 * Past MIME_DEPTH levels a multipart is read as one opaque part: its
	 * boundaries are not followed, and it is never re-encoded (RFC 2045
	 * section 6.4: a multipart has an identity encoding only).
	 */
	sc->state = SC_LEAF;
	sc->opaque = strncmp(type, "multipart/", 10) == 0;
	sc->identity = !sc->opaque && (*cte == '\0' ||
	    strcmp(cte, "7bit") == 0 || strcmp(cte, "8bit") == 0 ||
	    strcmp(cte, "binary") == 0);
	sc->cur.hoff = hoff;
	sc->cur.boff = next;
	sc->cur8 = 0;
	sc->curmax = sc->col = 0;
}

/*
 * The end of a leaf.  Only parts in an identity encoding can be re-encoded
 * (RFC 2045 section 6.4: no nested encodings).
 */
static void
finish_leaf(struct scan *sc, off_t eoff)
{
	sc->state = SC_SKIP;
	if (sc->opaque && sc->downgrade && sc->cur8)
		sc->deep8 = 1;
	if (!sc->identity || !(sc->curmax > LINE_MAX_OCTETS ||
	    (sc->downgrade && sc->cur8)))
		return;
	if ((sc->nrv & (sc->nrv - 1)) == 0)	/* doubling */
		sc->rv = xreallocarray(sc->rv, 2 * sc->nrv + 1,
		    sizeof(*sc->rv));
	sc->cur.eoff = eoff;
	sc->rv[sc->nrv++] = sc->cur;
}

/*
 * Whether line p is a boundary of an open multipart, innermost first
 * (RFC 2046 section 5.1.1: "--" boundary ["--"] LWSP CRLF).
 */
static int
boundary_level(const struct scan *sc, const char *p, size_t n, int *close)
{
	size_t	k, bl, i;

	for (k = sc->depth; k-- > 0; ) {
		bl = strlen(sc->bnd[k]);
		if (n < 2 + bl || memcmp(p + 2, sc->bnd[k], bl) != 0)
			continue;
		i = 2 + bl;
		*close = n - i >= 2 && p[i] == '-' && p[i + 1] == '-';
		if (*close)
			i += 2;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == n || (n - i == 2 && p[i] == '\r') ||
		    (n - i == 1 && p[i] == '\n'))
			return (int)k;
	}
	return -1;
}

static void
scan_piece(struct scan *sc, const char *p, size_t n, int bol, int eol,
    off_t at)
{
	size_t	i;
	int	k, close;

	if (bol && eol && sc->depth > 0 && n >= 2 && p[0] == '-' &&
	    p[1] == '-' && (k = boundary_level(sc, p, n, &close)) != -1) {
		if (sc->state == SC_LEAF)
			finish_leaf(sc, at);
		sc->depth = (size_t)k + (close ? 0 : 1);
		sc->state = close ? SC_SKIP : SC_HDR;
		sc->hbuf.len = 0;
		sc->hover = 0;
		sc->hoff = at + (off_t)n;
		return;
	}
	if (sc->state == SC_HDR) {
		if (bol && n == 2 && p[0] == '\r' && p[1] == '\n') {
			if (sc->hover)
				sc->hbuf.len = 0;
			decide(sc, sc->hbuf.s, sc->hbuf.len, sc->hoff,
			    at + 2);
			if (sc->hover && sc->state == SC_LEAF)
				sc->identity = 0;
		} else if (sc->hbuf.len + n > PARTHDR_MAX)
			sc->hover = 1;
		else
			util_stradd(&sc->hbuf, p, n);
	} else if (sc->state == SC_LEAF) {
		if (bol)
			sc->col = 0;
		for (i = 0; i < n && !sc->cur8; i++)
			if ((unsigned char)p[i] >= 0x80)
				sc->cur8 = 1;
		sc->col += n;
		if (eol && p[n - 1] == '\n')
			sc->col -= n >= 2 && p[n - 2] == '\r' ? 2 : 1;
		if (sc->col > sc->curmax)
			sc->curmax = sc->col;
	}
}

/* Find the leaf parts that need re-encoding. */
static int
scan(struct scan *sc, int fd, off_t start, off_t stop, const char *top,
    size_t toplen, struct err *e)
{
	struct lr	*r;
	const char	*p;
	size_t		 n;
	off_t		 at, end = start;
	int		 eol, bol = 1, rc;

	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->off = start;
	r->end = stop;
	decide(sc, top, toplen, -1, start);
	while ((rc = lr_next(r, &p, &n, &eol, &at, e)) == 1) {
		scan_piece(sc, p, n, bol, eol, at);
		bol = eol;
		end = at + (off_t)n;
	}
	if (rc == 0 && sc->state == SC_LEAF)
		finish_leaf(sc, end);
	free(r);
	return rc;
}

/* --- writing the prepared file ----------------------------------------- */

/* Output, keeping what the client needs: 8-bit or not, longest line. */
static int
out_put(struct out *o, const char *p, size_t n, struct err *e)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n') {
			if (o->col > 0)
				o->col--;	/* the CR */
			if (o->col > o->maxline)
				o->maxline = o->col;
			o->col = 0;
		} else {
			o->col++;
			o->eightbit |= c >= 0x80;
		}
	}
	return msgbuf_put(&o->w, p, n, e);
}

static int
copy_range(int in, off_t from, off_t to, struct out *o, struct err *e)
{
	char	buf[MSG_IOSZ];
	ssize_t	n;
	size_t	want;

	while (from < to) {
		want = to - from > (off_t)sizeof(buf) ? sizeof(buf) :
		    (size_t)(to - from);
		if ((n = pread(in, buf, want, from)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(e, ERR_IO, "reading the message: %s",
			    n == 0 ? "short file" : strerror(errno));
		if (out_put(o, buf, (size_t)n, e) == -1)
			return -1;
		from += n;
	}
	return 0;
}

/* Quoted-printable (RFC 2045 section 6.7), a byte at a time. */
struct qp {
	int		 pend;		/* white space not yet known to be
					   at the end of the line, or -1 */
	size_t		 col;
};

static int
qp_put(struct qp *q, struct out *o, const char *s, size_t w, struct err *e)
{
	/* Rule 5: lines of at most 76 characters, "=" included. */
	if (q->col + w > QP_LINE - 1) {
		if (out_put(o, "=\r\n", 3, e) == -1)
			return -1;
		q->col = 0;
	}
	/*
	 * No encoded line may start with "--": wherever a soft break falls,
	 * it must not forge a boundary of the enclosing multipart, not even
	 * as a line's prefix (RFC 2046 section 5.1.1).
	 */
	if (q->col == 0 && w == 1 && *s == '-') {
		s = "=2D";
		w = 3;
	}
	q->col += w;
	return out_put(o, s, w, e);
}

static int
qp_hex(struct qp *q, struct out *o, unsigned char c, struct err *e)
{
	static const char	hex[] = "0123456789ABCDEF";
	char			t[3];

	t[0] = '=';
	t[1] = hex[c >> 4];
	t[2] = hex[c & 15];
	return qp_put(q, o, t, 3, e);
}

static int
qp_byte(struct qp *q, struct out *o, unsigned char c, struct err *e)
{
	char	ch = (char)c;

	if (q->pend != -1) {
		ch = (char)q->pend;
		q->pend = -1;
		if (qp_put(q, o, &ch, 1, e) == -1)
			return -1;
		ch = (char)c;
	}
	if (c == ' ' || c == '\t') {
		q->pend = c;	/* rule 3: encoded only at a line end */
		return 0;
	}
	if (c >= 33 && c <= 126 && c != '=')
		return qp_put(q, o, &ch, 1, e);
	return qp_hex(q, o, c, e);
}

static int
qp_eol(struct qp *q, struct out *o, struct err *e)
{
	if (q->pend != -1 && qp_hex(q, o, (unsigned char)q->pend, e) == -1)
		return -1;
	q->pend = -1;
	q->col = 0;
	return out_put(o, "\r\n", 2, e);
}

/* The body of a part, [from, to), as quoted-printable; CRLF stay hard. */
static int
qp_range(int in, off_t from, off_t to, struct out *o, struct err *e)
{
	struct lr	*r;
	struct qp	 q = { -1, 0 };
	const char	*p;
	size_t		 n, i;
	off_t		 at;
	int		 eol, rc;

	r = xcalloc(1, sizeof(*r));
	r->fd = in;
	r->off = from;
	r->end = to;
	while ((rc = lr_next(r, &p, &n, &eol, &at, e)) == 1 && at < to) {
		if (at + (off_t)n > to)
			n = (size_t)(to - at);
		if (eol && n > 0 && p[n - 1] == '\n')
			n -= n > 1 && p[n - 2] == '\r' ? 2 : 1;
		else
			eol = 0;
		for (i = 0; i < n; i++)
			if (qp_byte(&q, o, (unsigned char)p[i], e) == -1)
				goto fail;
		if (eol && qp_eol(&q, o, e) == -1)
			goto fail;
	}
	if (rc != -1 && q.pend != -1 && qp_eol(&q, o, e) == -1)
		goto fail;
	free(r);
	return rc == -1 ? -1 : 0;
fail:
	free(r);
	return -1;
}

/*
 * The header of a re-encoded part: its Content-Transfer-Encoding
 * replaced; at the top level MIME-Version added if missing (RFC 2045
 * section 4), or the encoding would mean nothing.
 */
static void
recode_header(const char *h, size_t n, int top, struct strbuf *out)
{
	size_t	i, j;
	int	skip = 0;
	char	*v;

	for (i = 0; i < n; i = j) {
		j = next_line(h, n, i);
		if (line_end(h, n, i) == i)
			break;			/* the empty line */
		if (h[i] != ' ' && h[i] != '\t')
			skip = j - i > 26 && strncasecmp(h + i,
			    "Content-Transfer-Encoding:", 26) == 0;
		if (!skip)
			util_stradd(out, h + i, j - i);
	}
	if (top && (v = hdr_get(h, n, "MIME-Version")) == NULL)
		util_stradds(out, "MIME-Version: 1.0\r\n");
	else if (top)
		free(v);
	util_stradds(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
}

static int
write_recoded(int in, const struct recode *rc, struct out *o, struct err *e)
{
	struct strbuf	 s = { NULL, 0, 0 };
	char		*h;
	size_t		 hl = (size_t)(rc->boff - rc->hoff);
	ssize_t		 n;
	int		 ret = -1;

	h = xcalloc(1, hl + 1);
	if ((n = pread(in, h, hl, rc->hoff)) != (ssize_t)hl)
		err_set(e, ERR_IO, "reading the message: %s", n == -1 ?
		    strerror(errno) : "short file");
	else {
		util_stradd(&s, "", 0);
		recode_header(h, hl, 0, &s);
		ret = out_put(o, s.s, s.len, e);
	}
	free(s.s);
	free(h);
	if (ret == 0)
		ret = qp_range(in, rc->boff, rc->eoff, o, e);
	return ret;
}

/*
 * Write the prepared file: the top-level header block (in memory), then
 * the body from in at start, with the parts in sc->rv re-encoded.
 */
static int
xform(int in, off_t start, off_t end, const char *top, size_t toplen,
    const struct scan *sc, struct out *o, struct err *e)
{
	struct strbuf	 s = { NULL, 0, 0 };
	size_t		 i = 0;
	off_t		 pos = start;
	int		 rc;

	if (sc->nrv > 0 && sc->rv[0].hoff == -1) {
		util_stradd(&s, "", 0);
		recode_header(top, toplen, 1, &s);
		rc = out_put(o, s.s, s.len, e);
		free(s.s);
		if (rc == -1 || qp_range(in, start, sc->rv[0].eoff, o, e) == -1)
			return -1;
		pos = sc->rv[0].eoff;
		i = 1;
	} else if (out_put(o, top, toplen, e) == -1)
		return -1;
	for (; i < sc->nrv; i++) {
		if (copy_range(in, pos, sc->rv[i].hoff, o, e) == -1 ||
		    write_recoded(in, &sc->rv[i], o, e) == -1)
			return -1;
		pos = sc->rv[i].eoff;
	}
	if (copy_range(in, pos, end, o, e) == -1)
		return -1;
	return msgbuf_flush(&o->w, e);
}

/*
 * Scan in from start to end (-1: its end of file; a queue file goes on
 * with its envelope), then write the prepared file into m: into outfd
 * (the spool file; left open on failure), or into a temporary file when
 * outfd is -1.
 */
int
mime_prepare(int in, off_t start, off_t end, const char *top, size_t toplen,
    int downgrade, int outfd, struct dkim *dk, struct msg *m, struct err *e)
{
	struct scan	*sc;
	struct out	*o;
	int		 rc = -1;

	if (end == -1 && (end = lseek(in, 0, SEEK_END)) == -1)
		return err_set(e, ERR_IO, "temporary file: %s",
		    strerror(errno));
	sc = xcalloc(1, sizeof(*sc));
	o = xcalloc(1, sizeof(*o));
	sc->downgrade = downgrade;
	o->w.dk = dk;
	if (scan(sc, in, start, end, top, toplen, e) == -1)
		goto out;
	/* Postfix, too, refuses to convert past its nesting limit. */
	if (sc->deep8) {
		err_set(e, ERR_DATA, "the message has 8-bit text in MIME parts "
		    "nested deeper than %d levels, which cannot be converted "
		    "to 7-bit for a server without 8BITMIME", MIME_DEPTH);
		goto out;
	}
	if ((o->w.fd = outfd) == -1 && (o->w.fd = scratch_open(e)) == -1)
		goto out;
	if (xform(in, start, end, top, toplen, sc, o, e) == -1) {
		if (outfd == -1)
			close(o->w.fd);
		goto out;
	}
	/*
	 * Lines over 998 octets in a text part were re-encoded.  One that is
	 * still there stands where no encoding applies (a part's header, a
	 * preamble, an epilogue, a part that is not text): the message
	 * cannot be sent as it is (RFC 5322 section 2.1.1).
	 */
	if (o->maxline > LINE_MAX_OCTETS) {
		err_set(e, ERR_DATA, "the message has a line of %zu octets "
		    "outside any text part that could be re-encoded (over "
		    "the limit of %d)", o->maxline, LINE_MAX_OCTETS);
		if (outfd == -1)
			close(o->w.fd);
		goto out;
	}
	if (lseek(o->w.fd, 0, SEEK_SET) == -1) {
		err_set(e, ERR_IO, "temporary file: %s", strerror(errno));
		if (outfd == -1)
			close(o->w.fd);
		goto out;
	}
	m->fd = o->w.fd;
	m->size = o->w.size;
	m->eightbit = o->eightbit;
	m->maxline = o->maxline;
	rc = 0;
out:
	free(sc->hbuf.s);
	free(sc->rv);
	free(sc);
	free(o);
	return rc;
}
