/*
 * Preparing the message: standard input is read once; the header block
 * is held in memory (at most 1 MiB) and fixed up, the body is streamed to
 * a temporary file; then mime.c writes the prepared file: the fixed
 * header block and the body, with text parts re-encoded quoted-printable
 * where a line exceeds 998 octets (RFC 5322 section 2.1.1).
 * msg_downgrade() does the same for 8-bit parts when the server lacks
 * 8BITMIME (RFC 6152 section 3).  Memory does not grow with the size of
 * the message.
 *
 * Input lines may end in LF, CRLF or a bare CR; the file has CRLF only
 * (no bare CR or LF can reach the wire: SMTP smuggling).  A first "From "
 * line (mbox) is dropped, NUL bytes are refused, and without -i a line
 * holding only "." ends the input (sendmail).  The file is not
 * dot-stuffed; the client does that on the wire.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define HDR_MAX		(1024 * 1024)	/* DESIGN.md: the header block */
#define LINE_MAX_OCTETS	998		/* RFC 5322 section 2.1.1 */
#define FOLD_AT		78		/* RFC 5322 section 2.1.1 SHOULD */
#define QP_LINE		76		/* RFC 2045 section 6.7 (5) */
#define MIME_DEPTH	32
#define BND_MAX		70		/* RFC 2046 section 5.1.1 */

/* A header field: "Name: value", folds kept as CRLF WSP, no last CRLF. */
struct field {
	char		*text;
	size_t		 len;
	size_t		 cap;		/* bytes allocated at text */
	size_t		 namelen;
	int		 gone;
};

struct hdr {
	struct field	*f;
	size_t		 n;
	size_t		 cap;
};

/* What the body (the text after the header block) turned out to be. */
struct bodyinfo {
	int		 eightbit;
	int		 utf8;		/* every 8-bit sequence is UTF-8 */
	size_t		 maxline;
	unsigned char	 u8seq[4];	/* an unfinished UTF-8 sequence */
	size_t		 u8len, u8need;
};

struct reader {
	const struct msgopts	*opts;
	struct msgbuf		 out;		/* the body file */
	size_t			 lineno;	/* 1-based, for messages */
	size_t			 linelen;	/* bytes of the current line */
	int			 pending_cr;
	int			 skip;		/* in the dropped mbox line */
	size_t			 held;		/* bytes held back at line start */
	char			 hold[5];	/* "From " or "." candidates */
	int			 done;		/* a lone "." ended the input */
	int			 inhdr;		/* still in the header block */
	char			*line;		/* the header line being read */
	size_t			 linecap;
	size_t			 hdrsize;
	struct hdr		 h;
	struct bodyinfo		 body;
};


int
msg_write(int fd, const char *p, size_t n, struct err *e)
{
	ssize_t	k;

	while (n > 0) {
		if ((k = write(fd, p, n)) == -1 && errno == EINTR)
			continue;
		/* A full disk is temporary: exit 75, try again later. */
		if (k == -1 && (errno == ENOSPC || errno == EDQUOT))
			return err_set(e, ERR_TEMP, "writing the message: %s "
			    "(the spool or TMPDIR is full)", strerror(errno));
		if (k == -1)
			return err_set(e, ERR_IO, "writing the message to a "
			    "temporary file: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* --- reading standard input ------------------------------------------ */

/* Write what b holds (and show it to b->dk first). */
int
msgbuf_flush(struct msgbuf *b, struct err *e)
{
	if (b->dk != NULL)
		dkim_update(b->dk, b->buf, b->len);
	if (msg_write(b->fd, b->buf, b->len, e) == -1)
		return -1;
	b->size += (off_t)b->len;
	b->len = 0;
	return 0;
}

int
msgbuf_put(struct msgbuf *b, const char *p, size_t n, struct err *e)
{
	size_t	k;

	while (n > 0) {
		k = sizeof(b->buf) - b->len;
		if (k > n)
			k = n;
		memcpy(b->buf + b->len, p, k);
		b->len += k;
		p += k;
		n -= k;
		if (b->len == sizeof(b->buf) && msgbuf_flush(b, e) == -1)
			return -1;
	}
	return 0;
}

/* Track whether the body is 8-bit, and whether that is all UTF-8. */
static void
body_stats(struct bodyinfo *b, unsigned char c)
{
	if (c >= 0x80)
		b->eightbit = 1;
	if (b->u8need > 0) {
		if ((c & 0xc0) == 0x80) {
			b->u8seq[b->u8len++] = c;
			if (b->u8len < b->u8need)
				return;
			if (rfc2047_utf8len(b->u8seq, b->u8len) != b->u8len)
				b->utf8 = 0;
			b->u8need = 0;
			return;
		}
		b->utf8 = 0;		/* cut short; c starts anew */
		b->u8need = 0;
	}
	if (c < 0x80)
		return;
	if (c < 0xc2 || c > 0xf4) {
		b->utf8 = 0;
		return;
	}
	b->u8seq[0] = c;
	b->u8len = 1;
	b->u8need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

static int
body_bytes(struct reader *r, const char *p, size_t n, struct err *e)
{
	size_t	i;

	for (i = 0; i < n; i++)
		body_stats(&r->body, (unsigned char)p[i]);
	return msgbuf_put(&r->out, p, n, e);
}

static int
hdr_too_big(size_t lineno, struct err *e)
{
	return err_set(e, ERR_DATA, "the header block exceeds 1 MiB "
	    "(%d bytes) at line %zu", HDR_MAX, lineno);
}

/* Line text: into the header line, or to the body file. */
static int
emit(struct reader *r, const char *p, size_t n, struct err *e)
{
	if (!r->inhdr)
		return body_bytes(r, p, n, e);
	if (r->hdrsize + r->linelen + n + 2 > HDR_MAX)
		return hdr_too_big(r->lineno, e);
	if (r->linelen + n + 1 > r->linecap) {
		r->linecap = (r->linelen + n + 1) * 2;
		r->line = xreallocarray(r->line, r->linecap, 1);
	}
	memcpy(r->line + r->linelen, p, n);
	return 0;
}

/* Write out bytes held back at the start of a line: they are text. */
static int
release_hold(struct reader *r, struct err *e)
{
	size_t	n = r->held;

	if (n == 0)
		return 0;
	r->held = 0;
	if (emit(r, r->hold, n, e) == -1)
		return -1;
	r->linelen += n;
	return 0;
}

static void
field_add(struct hdr *h, const char *text, size_t len, size_t namelen)
{
	struct field	*f;

	/* Doubling: 100,000 short fields must not cost 100,000 copies. */
	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 32 : 2 * h->cap;
		h->f = xreallocarray(h->f, h->cap, sizeof(*h->f));
	}
	f = &h->f[h->n++];
	memset(f, 0, sizeof(*f));
	f->text = xcalloc(1, len + 1);
	memcpy(f->text, text, len);
	f->len = len;
	f->cap = len + 1;
	f->namelen = namelen;
}

/* The length of a field name ending in ":" at the start of s, or 0. */
static size_t
field_name(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n && s[i] != ':'; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return 0;
	return i < n ? i : 0;
}

/*
 * A complete header line.  A line that is neither a field nor a
 * continuation ends the header block and starts the body, as in Postfix
 * (cleanup): that covers a missing blank line and a line without colon.
 */
static int
header_line(struct reader *r, struct err *e)
{
	struct field	*f;
	size_t		 n = r->linelen, nl;

	if (n == 0) {
		r->inhdr = 0;
		return 0;
	}
	r->hdrsize += n + 2;
	if ((r->line[0] == ' ' || r->line[0] == '\t') && r->h.n > 0) {
		f = &r->h.f[r->h.n - 1];
		/* Doubling: a field of 100,000 lines is not copied 100,000 times. */
		if (f->len + n + 3 > f->cap) {
			f->cap = 2 * (f->len + n + 3);
			f->text = xreallocarray(f->text, f->cap, 1);
		}
		memcpy(f->text + f->len, "\r\n", 2);
		memcpy(f->text + f->len + 2, r->line, n);
		f->len += n + 2;
		f->text[f->len] = '\0';
		return 0;
	}
	if ((nl = field_name(r->line, n)) > 0) {
		field_add(&r->h, r->line, n, nl);
		return 0;
	}
	r->inhdr = 0;
	if (body_bytes(r, r->line, n, e) == -1)
		return -1;
	if (n > r->body.maxline)
		r->body.maxline = n;
	return body_bytes(r, "\r\n", 2, e);
}

static int
end_line(struct reader *r, struct err *e)
{
	r->lineno++;
	if (r->skip) {			/* the mbox "From " line: dropped */
		r->skip = 0;
		return 0;
	}
	if (r->held == 1 && r->hold[0] == '.' && !r->opts->ignoredots) {
		r->done = 1;
		return 0;
	}
	if (release_hold(r, e) == -1)
		return -1;
	if (r->inhdr) {
		/* the empty line ending the block does not count */
		if (r->linelen > 0 && r->hdrsize + r->linelen + 2 > HDR_MAX)
			return hdr_too_big(r->lineno - 1, e);
		if (header_line(r, e) == -1)
			return -1;
	} else {
		if (r->linelen > r->body.maxline)
			r->body.maxline = r->linelen;
		if (body_bytes(r, "\r\n", 2, e) == -1)
			return -1;
	}
	r->linelen = 0;
	return 0;
}

/*
 * One byte of line text.  At the start of a line, "." (and on line 1,
 * "From ") is held back until it is known whether the line is special.
 */
static int
text_byte(struct reader *r, char c, struct err *e)
{
	if (r->skip)
		return 0;
	if (r->linelen == 0 && r->held < sizeof(r->hold)) {
		r->hold[r->held++] = c;
		if (r->lineno == 1 &&
		    memcmp(r->hold, "From ", r->held) == 0) {
			if (r->held == sizeof(r->hold)) {
				r->skip = 1;
				r->held = 0;
			}
			return 0;
		}
		if (r->held == 1 && c == '.')
			return 0;
		return release_hold(r, e);
	}
	if (emit(r, &c, 1, e) == -1)
		return -1;
	r->linelen++;
	return 0;
}

static int
feed(struct reader *r, const char *buf, size_t n, struct err *e)
{
	size_t	i;

	for (i = 0; i < n && !r->done; i++) {
		char c = buf[i];

		if (r->pending_cr) {
			r->pending_cr = 0;
			if (end_line(r, e) == -1)
				return -1;
			if (c == '\n' || r->done)
				continue;
		}
		if (c == '\r')
			r->pending_cr = 1;
		else if (c == '\n') {
			if (end_line(r, e) == -1)
				return -1;
		} else if (c == '\0')
			return err_set(e, ERR_DATA, "NUL byte in the message "
			    "on line %zu", r->lineno);
		else if (text_byte(r, c, e) == -1)
			return -1;
	}
	return 0;
}

/* Read all of fd: the header block into r->h, the body into r->out. */
static int
read_input(struct reader *r, int fd, struct err *e)
{
	char	buf[MSG_IOSZ];
	ssize_t	n;

	while (!r->done) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_IO, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			break;
		if (feed(r, buf, (size_t)n, e) == -1)
			return -1;
	}
	/* A last line without its line end still ends in CRLF. */
	if (!r->done && (r->pending_cr || r->linelen > 0 || r->held > 0 ||
	    r->skip)) {
		r->pending_cr = 0;
		if (end_line(r, e) == -1)
			return -1;
	}
	if (r->body.u8need != 0)
		r->body.utf8 = 0;
	return msgbuf_flush(&r->out, e);
}

/* --- header fields ----------------------------------------------------- */

static int
name_is(const struct field *f, const char *name)
{
	return f->namelen == strlen(name) &&
	    strncasecmp(f->text, name, f->namelen) == 0;
}

static const char *
field_value(const struct field *f)
{
	return f->text + f->namelen + 1;
}

static ssize_t
hdr_find(const struct hdr *h, const char *name)
{
	size_t	i;

	for (i = 0; i < h->n; i++)
		if (!h->f[i].gone && name_is(&h->f[i], name))
			return (ssize_t)i;
	return -1;
}

static void
hdr_remove(struct hdr *h, const char *name)
{
	size_t	i;

	for (i = 0; i < h->n; i++)
		if (name_is(&h->f[i], name))
			h->f[i].gone = 1;
}

static void
field_replace(struct field *f, char *text, size_t len)
{
	free(f->text);
	f->text = text;
	f->len = len;
	f->cap = len + 1;
}

/* Fields whose value is an address list (RFC 5322 sections 3.6.2-3.6.6). */
static const char *const addr_fields[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Resent-From",
	"Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Bcc", NULL
};

/*
 * Structured fields other than address lists: encoded words are never
 * put into these (RFC 2047 section 5: only unstructured text, comments
 * and phrases); every other field is unstructured (RFC 5322 section
 * 3.6.8: optional-field = unstructured).
 */
static const char *const structured[] = {
	"Date", "Resent-Date", "Message-ID", "Resent-Message-ID",
	"In-Reply-To", "References", "Received", "Return-Path", "Keywords",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Content-ID", "Content-Disposition", "Content-Language",
	"Content-Location", "Content-MD5", "DKIM-Signature",
	"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
	"Authentication-Results", "Received-SPF", "List-Id", "List-Post",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Help",
	"List-Subscribe", "List-Owner", "List-Archive", "Autocrypt",
	"Disposition-Notification-To", "Errors-To", "Return-Receipt-To",
	"Original-Recipient", "Auto-Submitted", "Precedence", NULL
};

static int
in_list(const struct field *f, const char *const *list)
{
	for (; *list != NULL; list++)
		if (name_is(f, *list))
			return 1;
	return 0;
}

/* The field with its folds removed (RFC 5322 section 2.2.3). */
char *
msg_unfold(const char *s, size_t n, size_t *outlen)
{
	char	*u = xcalloc(1, n + 1);
	size_t	 i, k = 0;

	for (i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			u[k++] = s[i];
	*outlen = k;
	return u;
}

/*
 * Fold a field (given unfolded) by breaking before white space, so that
 * lines stay near FOLD_AT columns (RFC 5322 section 2.2.3).  The line
 * holding only the name is never broken off, nor a line left with white
 * space only.  Returns the longest line.
 */
static size_t
fold(const char *s, size_t n, struct strbuf *out)
{
	size_t	i = 0, j, k, col = 0, max = 0, first = 1;

	while (i < n) {
		for (j = i; j < n && (s[j] == ' ' || s[j] == '\t'); j++)
			;
		for (k = j; k < n && s[k] != ' ' && s[k] != '\t'; k++)
			;
		if (!first && k > j && col + (k - i) > FOLD_AT) {
			util_stradd(out, "\r\n", 2);
			col = 0;
		}
		if (k > j && i > 0)
			first = 0;
		util_stradd(out, s + i, k - i);
		col += k - i;
		if (col > max)
			max = col;
		i = k;
	}
	return max;
}

/* The longest line of a field as it stands. */
static size_t
longest_line(const struct field *f)
{
	size_t	i, col = 0, max = 0;

	for (i = 0; i < f->len; i++) {
		if (f->text[i] == '\r' || f->text[i] == '\n')
			col = 0;
		else if (++col > max)
			max = col;
	}
	return max;
}

/* Refold field f (its text unfolded in u); -1 if a line stays too long. */
static int
refold(struct field *f, const char *u, size_t ulen)
{
	struct strbuf	out = { NULL, 0, 0 };
	size_t		max;

	util_stradd(&out, "", 0);
	max = fold(u, ulen, &out);
	field_replace(f, out.s, out.len);
	return max > LINE_MAX_OCTETS ? -1 : 0;
}

/* Unfold text (a whole field) and refold it into f, or say why not. */
static int
refold_text(struct field *f, const char *text, size_t len, struct err *e)
{
	char	*u;
	size_t	 ulen;
	int	 rc;

	u = msg_unfold(text, len, &ulen);
	rc = refold(f, u, ulen);
	free(u);
	if (rc == -1)
		return err_set(e, ERR_DATA, "header field %.*s cannot be "
		    "folded to %d octets", (int)f->namelen, f->text,
		    LINE_MAX_OCTETS);
	return 0;
}

/*
 * Unstructured text: each run of words that hold 8-bit text (or, with
 * force, of words too long to fold) becomes encoded words, the white
 * space between those words inside them so that it survives decoding
 * (RFC 2047 sections 5(1) and 6.2).  Other text stays as it was.
 */
static char *
encode_text(const char *v, size_t n, int force, size_t *outlen)
{
	struct strbuf	 out = { NULL, 0, 0 };
	size_t		 i = 0, j, k, start, end;
	char		*ew;

	util_stradd(&out, "", 0);
	while (i < n) {
		for (j = i; j < n && (v[j] == ' ' || v[j] == '\t'); j++)
			;
		util_stradd(&out, v + i, j - i);
		start = end = j;
		for (k = j; k < n; ) {
			size_t w = k;

			while (w < n && v[w] != ' ' && v[w] != '\t')
				w++;
			if (w == k || !(util_has8bit(v + k, w - k) ||
			    (force && w - k > FOLD_AT - 10)))
				break;
			end = w;
			while (w < n && (v[w] == ' ' || v[w] == '\t'))
				w++;
			k = w;
		}
		if (end > start) {
			ew = rfc2047_encode(v + start, end - start);
			util_stradds(&out, ew);
			free(ew);
			i = end;
			continue;
		}
		for (k = j; k < n && v[k] != ' ' && v[k] != '\t'; k++)
			;
		util_stradd(&out, v + j, k - j);
		i = k;
	}
	*outlen = out.len;
	return out.s;
}

static int
fix_unstructured(struct field *f, struct err *e)
{
	char	*u, *enc, *name;
	size_t	 ulen, elen, nl = f->namelen + 1;
	int	 eight = util_has8bit(f->text, f->len);
	int	 force;

	if (!eight && longest_line(f) <= LINE_MAX_OCTETS)
		return 0;		/* well-formed: byte for byte */
	u = msg_unfold(f->text, f->len, &ulen);
	for (force = 0; force < 2; force++) {
		enc = encode_text(u + nl, ulen - nl, force, &elen);
		xasprintf(&name, "%.*s%s", (int)nl, u, enc);
		free(enc);
		if (refold(f, name, strlen(name)) == 0) {
			free(name);
			free(u);
			return 0;
		}
		free(name);
	}
	free(u);
	return err_set(e, ERR_DATA, "header field %.*s cannot be folded to "
	    "%d octets", (int)f->namelen, f->text, LINE_MAX_OCTETS);
}

/*
 * A structured field: passed byte for byte unless a line exceeds 998
 * octets; then it is refolded at its white space, and a field that still
 * cannot fit is refused, naming it.
 */
static int
fix_unfoldable(struct field *f, struct err *e)
{
	if (longest_line(f) <= LINE_MAX_OCTETS)
		return 0;
	return refold_text(f, f->text, f->len, e);
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct addredit *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Apply the parser's edits to an address field value: bare local names
 * get "@maildomain", 8-bit display names and comments become encoded
 * words (RFC 2047 section 5(2), 5(3)).  NULL when nothing changes.
 */
static char *
addr_edit(const char *v, struct addrlist *l, const char *domain)
{
	struct strbuf	 out = { NULL, 0, 0 };
	size_t		 i, pos = 0, n = 0;
	char		*ew;

	if (l->ned > 0)
		qsort(l->ed, l->ned, sizeof(*l->ed), edit_cmp);
	util_stradd(&out, "", 0);
	for (i = 0; i < l->ned; i++) {
		struct addredit *ed = &l->ed[i];

		if (ed->text == NULL && domain == NULL)
			continue;
		util_stradd(&out, v + pos, ed->off - pos);
		pos = ed->off + ed->len;
		n++;
		if (ed->text == NULL) {
			util_stradds(&out, "@");
			util_stradds(&out, domain);
			continue;
		}
		ew = rfc2047_encode(ed->text, strlen(ed->text));
		util_stradds(&out, ew);
		free(ew);
		/* An encoded word is a word of its own (section 5(3)). */
		if (!ed->comment && v[pos] != ' ' && v[pos] != '\t' &&
		    v[pos] != '\r')
			util_stradds(&out, " ");
	}
	util_stradds(&out, v + pos);
	if (n == 0) {
		free(out.s);
		return NULL;
	}
	return out.s;
}

/*
 * An address field: qualified and encoded where needed, else byte for
 * byte.  One that cannot be parsed is left alone here; -t has refused it
 * already when it named recipients.
 */
static int
fix_address(struct field *f, const char *domain, struct err *e)
{
	struct addrlist	 l;
	struct err	 ignored;
	char		*v, *t;
	int		 rc;

	if (addr_parse(field_value(f), "", &l, &ignored) == -1)
		return fix_unfoldable(f, e);
	v = addr_edit(field_value(f), &l, domain);
	addr_free(&l);
	if (v == NULL)
		return fix_unfoldable(f, e);
	xasprintf(&t, "%.*s:%s", (int)f->namelen, f->text, v);
	free(v);
	rc = refold_text(f, t, strlen(t), e);
	free(t);
	return rc;
}

/* --- added fields ------------------------------------------------------ */

/*
 * RFC 5322 section 3.3 date-time in local time with a numeric zone, in
 * English whatever the locale: "Tue, 1 Jul 2003 10:52:37 +0200".
 */
void
msg_date(time_t t, char *buf, size_t sz)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
		"Sep", "Oct", "Nov", "Dec"
	};
	struct tm	tm;
	long		off;

	(void)localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	(void)snprintf(buf, sz, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/*
 * "<YYYYMMDDhhmmss.R@domain>": the UTC time, then 128 random bits from
 * arc4random_buf in hex.  The random part alone makes the id unique
 * across processes and machines (RFC 5322 section 3.6.4); the time
 * helps a human reading logs.
 */
void
msg_msgid(time_t t, const char *domain, char *buf, size_t sz)
{
	unsigned char	rnd[16];
	char		hex[sizeof(rnd) * 2 + 1];
	struct tm	tm;
	size_t		i;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	(void)gmtime_r(&t, &tm);
	(void)snprintf(buf, sz, "<%04d%02d%02d%02d%02d%02d.%s@%s>",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, hex, domain);
}

/*
 * maildomain: the configured one, else the first line of /etc/mailname
 * (Debian), else the FQDN.
 */
char *
msg_maildomain(const char *conf)
{
	FILE	*fp;
	char	 line[256];

	if (conf != NULL && *conf != '\0')
		return xstrdup(conf);
	if ((fp = fopen("/etc/mailname", "r")) != NULL) {
		if (fgets(line, sizeof(line), fp) != NULL) {
			line[strcspn(line, " \t\r\n")] = '\0';
			if (line[0] != '\0') {
				fclose(fp);
				return xstrdup(line);
			}
		}
		fclose(fp);
	}
	return util_fqdn();
}

/*
 * The caller's full name from the GECOS field: up to the first comma,
 * "&" standing for the capitalised login (the BSD convention).
 */
static char *
gecos_name(void)
{
	struct passwd	*pw;
	struct strbuf	 b = { NULL, 0, 0 };
	const char	*p;

	if ((pw = getpwuid(getuid())) == NULL || pw->pw_gecos == NULL)
		return NULL;
	util_stradd(&b, "", 0);
	for (p = pw->pw_gecos; *p != '\0' && *p != ','; p++) {
		if (*p == '&') {
			char c = (char)toupper((unsigned char)pw->pw_name[0]);

			if (c != '\0') {
				util_stradd(&b, &c, 1);
				util_stradds(&b, pw->pw_name + 1);
			}
		} else
			util_stradd(&b, p, 1);
	}
	return b.s;
}

/*
 * A display name as a phrase (RFC 5322 section 3.2.5): atoms as they
 * are, else a quoted string; 8-bit text as encoded words.  Control
 * characters (from -F) become spaces.
 */
static char *
phrase(const char *name)
{
	struct strbuf	 b = { NULL, 0, 0 };
	char		*n = xstrdup(name), *p;
	int		 plain = 1;

	for (p = n; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
		if (!isalnum((unsigned char)*p) && *p != ' ' &&
		    strchr("!#$%&'*+-/=?^_`{|}~", *p) == NULL)
			plain = 0;
	}
	if (util_has8bit(n, strlen(n))) {
		p = rfc2047_encode(n, strlen(n));
		free(n);
		return p;
	}
	if (plain)
		return n;
	util_stradds(&b, "\"");
	for (p = n; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			util_stradd(&b, "\\", 1);
		util_stradd(&b, p, 1);
	}
	util_stradds(&b, "\"");
	free(n);
	return b.s;
}

static void
add_field(struct hdr *h, const char *text)
{
	struct strbuf	b = { NULL, 0, 0 };
	size_t		nl = field_name(text, strlen(text));

	util_stradd(&b, "", 0);
	(void)fold(text, strlen(text), &b);
	field_add(h, b.s, b.len, nl);
	free(b.s);
}

/* From: from the envelope sender, the name from -F else GECOS. */
static void
add_from(struct hdr *h, const struct msgopts *o)
{
	struct passwd	*pw;
	char		*name, *ph, *addr, *t;

	if (o->sender != NULL && *o->sender != '\0')
		addr = addr_qualify(o->sender, o->maildomain);
	else {
		pw = getpwuid(getuid());
		xasprintf(&t, "%s", pw != NULL ? pw->pw_name : "postmaster");
		addr = addr_qualify(t, o->maildomain);
		free(t);
	}
	name = o->fullname != NULL ? xstrdup(o->fullname) : gecos_name();
	if (name != NULL && name[strspn(name, " \t")] != '\0') {
		ph = phrase(name);
		xasprintf(&t, "From: %s <%s>", ph, addr);
		free(ph);
	} else
		xasprintf(&t, "From: %s", addr);
	add_field(h, t);
	free(t);
	free(name);
	free(addr);
}

/* --- -t ---------------------------------------------------------------- */

static int
is_resent(const struct field *f)
{
	return f->namelen > 7 && strncasecmp(f->text, "Resent-", 7) == 0;
}

static void
add_rcpt(struct msg *m, struct addrset *seen, const char *a, int bare)
{
	if (!addrset_add(seen, a))
		return;
	if ((m->nrcpt & (m->nrcpt - 1)) == 0) {	/* 0, 1, 2, 4...: double */
		m->rcpts = xreallocarray(m->rcpts, 2 * m->nrcpt + 1,
		    sizeof(char *));
		m->bare = xreallocarray(m->bare, 2 * m->nrcpt + 1,
		    sizeof(int));
	}
	m->bare[m->nrcpt] = bare;
	m->rcpts[m->nrcpt++] = xstrdup(a);
}

/*
 * -t: the recipients of To, Cc and Bcc; where Resent- fields exist, only
 * those of the newest block, the first one from the top (RFC 5322
 * section 3.6.6: each resending prepends its block, and every block has
 * one Resent-Date, so a second one starts the next block).
 */
static int
extract_rcpts(const struct hdr *h, const struct msgopts *o, struct msg *m,
    struct err *e)
{
	static const char *const plain[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = {
		"Resent-To", "Resent-Cc", "Resent-Bcc", NULL
	};
	const char *const	*list = plain;
	struct addrlist		 l;
	struct addrset		 seen;
	size_t			 i, j, first = 0, end = h->n;
	char			*name, *a;
	int			 rc = 0;

	for (i = 0; i < h->n; i++)
		if (is_resent(&h->f[i])) {
			for (first = end = i; end < h->n &&
			    is_resent(&h->f[end]); end++)
				if (end > first && name_is(&h->f[end],
				    "Resent-Date"))
					break;	/* the next block's */
			list = resent;
			break;
		}
	memset(&seen, 0, sizeof(seen));
	for (i = first; rc == 0 && i < end; i++) {
		if (!in_list(&h->f[i], list))
			continue;
		xasprintf(&name, "%.*s", (int)h->f[i].namelen, h->f[i].text);
		rc = addr_parse(field_value(&h->f[i]), name, &l, e);
		free(name);
		if (rc == -1)
			break;
		for (j = 0; j < l.n; j++) {
			a = l.v[j].bare ? addr_qualify(l.v[j].spec,
			    o->maildomain) : xstrdup(l.v[j].spec);
			add_rcpt(m, &seen, a, l.v[j].bare);
			free(a);
		}
		addr_free(&l);
	}
	addrset_free(&seen);
	return rc;
}

/* --- the fix-ups ------------------------------------------------------- */

/*
 * An 8-bit body without MIME headers is declared (RFC 2045 section 6.2,
 * RFC 6152); one with a Content-Type but no encoding gets "8bit", which
 * is what it is.
 */
static void
mime_fix(struct hdr *h, const struct bodyinfo *b)
{
	ssize_t		 ct;
	const char	*v;
	char		*t;

	if (!b->eightbit || hdr_find(h, "Content-Transfer-Encoding") != -1)
		return;
	if ((ct = hdr_find(h, "Content-Type")) == -1 &&
	    hdr_find(h, "MIME-Version") == -1) {
		add_field(h, "MIME-Version: 1.0");
		xasprintf(&t, "Content-Type: text/plain; charset=%s",
		    b->utf8 ? "utf-8" : "unknown-8bit");
		add_field(h, t);
		free(t);
		add_field(h, "Content-Transfer-Encoding: 8bit");
		return;
	}
	if (ct == -1)
		return;
	v = field_value(&h->f[ct]);
	v += strspn(v, " \t\r\n");
	if (strncasecmp(v, "multipart/", 10) != 0 &&
	    strncasecmp(v, "message/", 8) != 0)
		add_field(h, "Content-Transfer-Encoding: 8bit");
}

static int
fix_fields(struct hdr *h, const struct msgopts *o, struct err *e)
{
	struct field	*f;
	size_t		 i;
	int		 rc;

	for (i = 0; i < h->n; i++) {
		f = &h->f[i];
		if (f->gone)
			continue;
		if (in_list(f, addr_fields))
			rc = fix_address(f, o->maildomain, e);
		else if (in_list(f, structured))
			rc = fix_unfoldable(f, e);
		else
			rc = fix_unstructured(f, e);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* The Message-ID as it goes out, unfolded, for the summary line. */
static void
msgid_of(const struct hdr *h, struct msg *m)
{
	const char	*v;
	size_t		 i, o = 0;
	ssize_t		 k;

	m->msgid[0] = '\0';
	if ((k = hdr_find(h, "Message-ID")) == -1)
		return;
	v = field_value(&h->f[k]);
	for (i = 0; v + i < h->f[k].text + h->f[k].len &&
	    o + 1 < sizeof(m->msgid); i++)
		if (v[i] != ' ' && v[i] != '\t' && v[i] != '\r' &&
		    v[i] != '\n')
			m->msgid[o++] = v[i];
	m->msgid[o] = '\0';
}

static int
fixup(struct hdr *h, const struct msgopts *o, const struct bodyinfo *b,
    struct msg *m, struct err *e)
{
	char	buf[512], *t;

	if (o->extract && extract_rcpts(h, o, m, e) == -1)
		return -1;
	hdr_remove(h, "Return-Path");
	hdr_remove(h, "Content-Length");
	if (!o->keep_bcc) {
		hdr_remove(h, "Bcc");
		hdr_remove(h, "Resent-Bcc");
	}
	if (o->undisclosed) {
		hdr_remove(h, "To");
		hdr_remove(h, "Cc");
		hdr_remove(h, "Bcc");
	}
	if (o->set_from == MSG_ON)
		hdr_remove(h, "From");
	if (fix_fields(h, o, e) == -1)
		return -1;
	if (o->set_from != MSG_OFF && hdr_find(h, "From") == -1)
		add_from(h, o);
	if (o->set_date != MSG_OFF && hdr_find(h, "Date") == -1) {
		msg_date(o->now, buf, sizeof(buf));
		xasprintf(&t, "Date: %s", buf);
		add_field(h, t);
		free(t);
	}
	if (o->set_msgid != MSG_OFF && hdr_find(h, "Message-ID") == -1) {
		msg_msgid(o->now, o->maildomain, buf, sizeof(buf));
		xasprintf(&t, "Message-ID: %s", buf);
		add_field(h, t);
		free(t);
	}
	if (hdr_find(h, "To") == -1 && hdr_find(h, "Cc") == -1)
		add_field(h, "To: undisclosed-recipients:;");
	mime_fix(h, b);
	msgid_of(h, m);
	return 0;
}

/* The header block as it goes out, ending in the empty line. */
static char *
hdr_text(const struct hdr *h, size_t *len)
{
	struct strbuf	b = { NULL, 0, 0 };
	size_t		i;

	util_stradd(&b, "", 0);
	for (i = 0; i < h->n; i++) {
		if (h->f[i].gone)
			continue;
		util_stradd(&b, h->f[i].text, h->f[i].len);
		util_stradd(&b, "\r\n", 2);
	}
	util_stradd(&b, "\r\n", 2);
	*len = b.len;
	return b.s;
}

static void
hdr_free(struct hdr *h)
{
	size_t	i;

	for (i = 0; i < h->n; i++)
		free(h->f[i].text);
	free(h->f);
	memset(h, 0, sizeof(*h));
}

/* --- entry points ------------------------------------------------------ */

/*
 * Read the message from fd and prepare it: header fix-ups, -t
 * recipients (m->rcpts), the body with over-long lines re-encoded.  The
 * prepared message goes to opts->outfd (the spool file, which belongs to
 * m once msg_read succeeded) or, when that is 0, to a temporary file.
 */
int
msg_read(int fd, const struct msgopts *opts, struct msg *m, struct err *e)
{
	struct reader	*r;
	char		*top = NULL;
	size_t		 toplen;
	int		 rc = -1;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	r = xcalloc(1, sizeof(*r));
	r->opts = opts;
	r->lineno = 1;
	r->inhdr = 1;
	r->body.utf8 = 1;
	if ((r->out.fd = scratch_open(e)) == -1)
		goto out;
	if (read_input(r, fd, e) == -1 ||
	    fixup(&r->h, opts, &r->body, m, e) == -1)
		goto out;
	top = hdr_text(&r->h, &toplen);
	if (toplen > HDR_MAX + 4096)
		err_set(e, ERR_DATA, "the header block exceeds 1 MiB after "
		    "the fix-ups");
	else
		rc = mime_prepare(r->out.fd, 0, -1, top, toplen, 0,
		    opts->outfd > 0 ? opts->outfd : -1, NULL, m, e);
out:
	if (r->out.fd != -1)
		close(r->out.fd);
	free(top);
	free(r->line);
	hdr_free(&r->h);
	free(r);
	if (rc == -1)
		msg_close(m);
	return rc;
}

/*
 * The copy of in for a server without 8BITMIME: every 8-bit leaf part in
 * an identity encoding re-encoded quoted-printable, boundaries and other
 * parts untouched (RFC 6152 section 3 leaves the conversion to us).
 */
int
msg_downgrade(const struct msg *in, struct msg *out, struct dkim *dk,
    struct err *e)
{
	struct strbuf	h = { NULL, 0, 0 };
	char		buf[4096];
	ssize_t		n;
	char		*p;
	size_t		toplen = 0, from;
	int		rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	while (toplen == 0) {
		/* Within the message: a queue file goes on with its envelope. */
		n = in->size <= (off_t)h.len ? 0 : pread(in->fd, buf,
		    in->size - (off_t)h.len < (off_t)sizeof(buf) ?
		    (size_t)(in->size - (off_t)h.len) : sizeof(buf), (off_t)h.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || h.len > 2 * HDR_MAX) {
			free(h.s);
			return err_set(e, ERR_IO, "the prepared message has "
			    "no header block");
		}
		/* Only the new bytes (and 3 before) can end the block. */
		from = h.len > 3 ? h.len - 3 : 0;
		util_stradd(&h, buf, (size_t)n);
		if (h.len >= 2 && memcmp(h.s, "\r\n", 2) == 0)
			toplen = 2;
		else if ((p = strstr(h.s + from, "\r\n\r\n")) != NULL)
			toplen = (size_t)(p - h.s) + 4;
	}
	rc = mime_prepare(in->fd, (off_t)toplen, (off_t)in->size, h.s, toplen,
	    1, -1, dk, out, e);
	free(h.s);
	return rc;
}

void
msg_close(struct msg *m)
{
	size_t	i;

	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->bare);
	m->rcpts = NULL;
	m->bare = NULL;
	m->nrcpt = 0;
}
