/*
 * DKIM signatures (RFC 6376), rsa-sha256 and ed25519-sha256 (RFC 8463),
 * relaxed/relaxed, never l=.
 *
 * Signing is the last transformation: the message the client is about
 * to send (the prepared file, or its 8BITMIME downgrade) goes through
 * dkim_update() once.  The header block is kept (it is at most a little
 * over HDR_MAX); the body is canonicalized and hashed as it streams by.
 * dkim_final() then returns the DKIM-Signature fields that go in front of
 * the message.  The keys were loaded with the configuration (conf.c);
 * the crypto is OpenSSL's, through crypto.c.
 */
#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define DKIM_COLS	76	/* longest folded line, a tab counting 8 */
#define DKIM_TAB	8

struct dkim {
	const struct account	*a;
	time_t			 now;
	struct strbuf		 hdr;	/* the header block, with its
					   empty line */
	int			 inbody;
	struct dkim_body	 body;
};

/* --- the body ---------------------------------------------------------- */

/* The bytes at p that are neither white space nor a line end. */
static size_t
word_len(const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
		    p[i] == '\n')
			break;
	return i;
}

void
dkim_body_init(struct dkim_body *b)
{
	memset(b, 0, sizeof(*b));
	b->h = crypto_hash_new(CRYPTO_SHA256);
}

static void
body_put(struct dkim_body *b, const char *p, size_t n)
{
	if (b->len + n > sizeof(b->buf)) {
		crypto_hash_update(b->h, b->buf, b->len);
		b->len = 0;
	}
	if (n > sizeof(b->buf)) {
		crypto_hash_update(b->h, p, n);
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/*
 * RFC 6376 3.4.4: white space at the end of a line goes, other runs of
 * white space become one space, empty lines at the end go.  Line ends
 * and white space are held back until a byte shows what they were.  The
 * message has CRLF line ends only, so a CR is part of the next LF.
 */
void
dkim_body_update(struct dkim_body *b, const char *p, size_t n)
{
	size_t	i = 0, k;

	while (i < n) {
		switch (p[i]) {
		case '\r':
			i++;
			continue;
		case '\n':
			b->wsp = 0;
			b->blank++;
			i++;
			continue;
		case ' ':
		case '\t':
			b->wsp = 1;
			i++;
			continue;
		}
		for (; b->blank > 0; b->blank--)
			body_put(b, "\r\n", 2);
		if (b->wsp)
			body_put(b, " ", 1);
		b->wsp = 0;
		k = word_len(p + i, n - i);
		body_put(b, p + i, k);
		b->any = 1;
		i += k;
	}
}

/* out (32 bytes) = the body hash; a non-empty body ends in one CRLF. */
int
dkim_body_final(struct dkim_body *b, unsigned char *out)
{
	if (b->any)
		body_put(b, "\r\n", 2);
	crypto_hash_update(b->h, b->buf, b->len);
	b->len = 0;
	return crypto_hash_final(b->h, out);
}

/* --- the header fields ------------------------------------------------- */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * RFC 6376 3.4.2: the field (name, colon, value, folded, without its last
 * CRLF) with its name in lower case, no white space around the colon, its
 * value unfolded, runs of white space made one space, none at the end.
 */
void
dkim_canon_header(const char *f, size_t n, struct strbuf *out)
{
	const char	*colon;
	size_t		 i, nlen, start;
	int		 wsp = 0;
	char		 c;

	if ((colon = memchr(f, ':', n)) == NULL)
		colon = f + n;
	for (nlen = (size_t)(colon - f); nlen > 0 && is_wsp(f[nlen - 1]);
	    nlen--)
		continue;
	for (i = 0; i < nlen; i++) {
		c = (char)tolower((unsigned char)f[i]);
		util_stradd(out, &c, 1);
	}
	util_stradd(out, ":", 1);
	start = out->len;
	for (i = (size_t)(colon - f) + 1; i < n; i++) {
		if (f[i] == '\r' || f[i] == '\n')
			continue;
		if (is_wsp(f[i])) {
			wsp = 1;
			continue;
		}
		if (wsp && out->len > start)
			util_stradd(out, " ", 1);
		wsp = 0;
		util_stradd(out, f + i, 1);
	}
}

/* Where each field of the header block h starts, and how long it is. */
struct field {
	const char	*p;
	size_t		 len;	/* without the last CRLF */
	size_t		 nlen;	/* the name, without white space */
};

static size_t
fields(const char *h, size_t n, struct field **out)
{
	struct field	*v = NULL;
	size_t		 nv = 0, i = 0, eol;
	const char	*nl, *colon;

	while (i < n && !(h[i] == '\r' || h[i] == '\n')) {
		struct field f;

		f.p = h + i;
		do {
			nl = memchr(h + i, '\n', n - i);
			i = nl == NULL ? n : (size_t)(nl - h) + 1;
		} while (i < n && is_wsp(h[i]));
		eol = i;
		if (eol > 0 && h[eol - 1] == '\n')
			eol--;
		if (eol > 0 && h[eol - 1] == '\r')
			eol--;
		f.len = (size_t)(h + eol - f.p);
		if ((colon = memchr(f.p, ':', f.len)) == NULL)
			colon = f.p + f.len;
		for (f.nlen = (size_t)(colon - f.p); f.nlen > 0 &&
		    is_wsp(f.p[f.nlen - 1]); f.nlen--)
			continue;
		if ((nv & (nv - 1)) == 0)	/* doubling */
			v = xreallocarray(v, 2 * nv + 1, sizeof(*v));
		v[nv++] = f;
	}
	*out = v;
	return nv;
}

static int
name_is(const struct field *f, const char *name)
{
	return strlen(name) == f->nlen &&
	    strncasecmp(f->p, name, f->nlen) == 0;
}

/*
 * RFC 6376 5.4.2: the canonical fields named in names[], in that order.
 * A name that comes again stands for the next instance up from the
 * bottom; a name with no instance left stands for nothing.  Each
 * distinct name keeps a cursor, so a message with 50,000 Cc fields costs
 * one pass per name, not one per instance.
 */
void
dkim_select(const char *h, size_t n, const char *const *names, size_t nnames,
    struct strbuf *out)
{
	struct field	 *v;
	const char	**dn = NULL;
	size_t		 *cur = NULL, nv, ndn = 0, i, j;

	nv = fields(h, n, &v);
	for (i = 0; i < nnames; i++) {
		for (j = 0; j < ndn; j++)
			if (strcasecmp(dn[j], names[i]) == 0)
				break;
		if (j == ndn) {
			dn = xreallocarray(dn, ndn + 1, sizeof(*dn));
			cur = xreallocarray(cur, ndn + 1, sizeof(*cur));
			dn[ndn] = names[i];
			cur[ndn++] = nv;	/* below the bottom field */
		}
		while (cur[j] > 0 && !name_is(&v[cur[j] - 1], names[i]))
			cur[j]--;
		if (cur[j] == 0)
			continue;
		cur[j]--;
		dkim_canon_header(v[cur[j]].p, v[cur[j]].len, out);
		util_stradd(out, "\r\n", 2);
	}
	free(dn);
	free(cur);
	free(v);
}

/* --- signing ----------------------------------------------------------- */

struct dkim *
dkim_new(const struct account *a, time_t now)
{
	struct dkim	*d;

	d = xcalloc(1, sizeof(*d));
	d->a = a;
	d->now = now;
	dkim_body_init(&d->body);
	return d;
}

/* The message, in pieces of any size. */
void
dkim_update(struct dkim *d, const char *p, size_t n)
{
	const char	*nl;
	size_t		 k;

	while (n > 0 && !d->inbody) {
		nl = memchr(p, '\n', n);
		k = nl == NULL ? n : (size_t)(nl - p) + 1;
		util_stradd(&d->hdr, p, k);
		p += k;
		n -= k;
		if ((d->hdr.len == 2 && memcmp(d->hdr.s, "\r\n", 2) == 0) ||
		    (d->hdr.len >= 4 &&
		    memcmp(d->hdr.s + d->hdr.len - 4, "\r\n\r\n", 4) == 0))
			d->inbody = 1;
	}
	if (n > 0)
		dkim_body_update(&d->body, p, n);
}

/*
 * The whole of a prepared file: its first size bytes (a queue file goes
 * on with its envelope).
 */
int
dkim_file(struct dkim *d, int fd, off_t size, struct err *e)
{
	char	buf[MSG_IOSZ];
	off_t	off = 0;
	ssize_t	n;

	while (off < size) {
		n = pread(fd, buf, size - off < (off_t)sizeof(buf) ?
		    (size_t)(size - off) : sizeof(buf), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(e, ERR_IO, "reading the message: %s",
			    n == 0 ? "short file" : strerror(errno));
		dkim_update(d, buf, (size_t)n);
		off += n;
	}
	return 0;
}

/* A field folded under DKIM_COLS columns as it is written. */
struct fold {
	struct strbuf	*s;
	size_t		 col;
};

static void
fold_add(struct fold *f, const char *w, size_t n)
{
	util_stradd(f->s, w, n);
	f->col += n;
}

/* A space, or a new line when the next need columns do not fit. */
static void
fold_sep(struct fold *f, size_t need, int space)
{
	if (f->col + (space ? 1 : 0) + need > DKIM_COLS) {
		util_stradd(f->s, "\r\n\t", 3);
		f->col = DKIM_TAB;
	} else if (space)
		fold_add(f, " ", 1);
}

static void
fold_word(struct fold *f, const char *w, size_t n, int space)
{
	fold_sep(f, n, space);
	fold_add(f, w, n);
}

/* Base64 text that may break anywhere (FWS is allowed inside it). */
static void
fold_b64(struct fold *f, const char *p)
{
	size_t	n = strlen(p), k;

	while (n > 0) {
		if (f->col >= DKIM_COLS) {
			util_stradd(f->s, "\r\n\t", 3);
			f->col = DKIM_TAB;
		}
		k = DKIM_COLS - f->col;
		if (k > n)
			k = n;
		fold_add(f, p, k);
		p += k;
		n -= k;
	}
}

static const char *
alg_name(const struct crypto_key *k)
{
	return crypto_key_type(k) == CRYPTO_KEY_ED25519 ? "ed25519-sha256" :
	    "rsa-sha256";
}

/*
 * One DKIM-Signature field for key k, appended to out with its CRLF.
 * signed is the canonical form of the fields named in h.
 */
static int
sign_one(const struct dkim *d, const struct dkimkey *k, const char *h,
    const char *bh, const struct strbuf *signed_, struct strbuf *out,
    struct err *e)
{
	struct strbuf	 s = { NULL, 0, 0 }, data = { NULL, 0, 0 };
	struct fold	 f = { &s, 0 };
	char		*tag, *b64;
	const char	*p, *q;
	unsigned char	*sig;
	size_t		 siglen;
	int		 rc;

	fold_add(&f, "DKIM-Signature: v=1;", 20);
	xasprintf(&tag, "a=%s;", alg_name(k->key));
	fold_word(&f, tag, strlen(tag), 1);
	free(tag);
	fold_word(&f, "c=relaxed/relaxed;", 18, 1);
	xasprintf(&tag, "d=%s;", d->a->dkim_domain);
	fold_word(&f, tag, strlen(tag), 1);
	free(tag);
	xasprintf(&tag, "s=%s;", k->selector);
	fold_word(&f, tag, strlen(tag), 1);
	free(tag);
	xasprintf(&tag, "t=%lld;", (long long)d->now);
	fold_word(&f, tag, strlen(tag), 1);
	free(tag);
	/* h=a:b:c; may break before any name (FWS around the colons). */
	for (p = h; *p != '\0'; p = q) {
		q = p + strcspn(p, ":");
		if (*q == ':')
			q++;
		xasprintf(&tag, "%s%.*s%s", p == h ? "h=" : "",
		    (int)(q - p), p, *q == '\0' ? ";" : "");
		fold_word(&f, tag, strlen(tag), p == h);
		free(tag);
	}
	/* bh= and b= each with room for a piece of their value. */
	fold_sep(&f, 3 + 8, 1);
	fold_add(&f, "bh=", 3);
	fold_b64(&f, bh);
	fold_add(&f, ";", 1);
	fold_sep(&f, 2 + 8, 1);
	fold_add(&f, "b=", 2);

	util_stradd(&data, signed_->s, signed_->len);
	dkim_canon_header(s.s, s.len, &data);
	rc = crypto_key_sign(k->key, data.s, data.len, &sig, &siglen);
	free(data.s);
	if (rc == -1) {
		free(s.s);
		return err_set(e, ERR_SOFTWARE, "%s: signing with %s failed",
		    k->file, alg_name(k->key));
	}
	b64 = crypto_b64enc(sig, siglen);
	free(sig);
	fold_b64(&f, b64);
	free(b64);
	util_stradd(&s, "\r\n", 2);
	util_stradd(out, s.s, s.len);
	free(s.s);
	return 0;
}

/*
 * The h= list: every instance of each configured field that the message
 * has, and From once more, so that no From can be added (RFC 6376
 * 8.15).
 */
static char *
h_list(const struct dkim *d, const char ***names, size_t *nnames)
{
	struct field	*v;
	struct strbuf	 h = { NULL, 0, 0 };
	size_t		 nv, i, j, count;

	*names = NULL;
	*nnames = 0;
	nv = fields(d->hdr.s, d->hdr.len, &v);
	for (i = 0; i < d->a->ndkim_h; i++) {
		const char *name = d->a->dkim_h[i];

		for (count = 0, j = 0; j < nv; j++)
			count += name_is(&v[j], name);
		if (strcmp(name, "from") == 0)
			count++;
		for (; count > 0; count--) {
			if ((*nnames & (*nnames - 1)) == 0)	/* doubling */
				*names = xreallocarray(*names, 2 * *nnames + 1,
				    sizeof(**names));
			(*names)[(*nnames)++] = name;
			if (h.len > 0)
				util_stradd(&h, ":", 1);
			util_stradds(&h, name);
		}
	}
	free(v);
	return h.s;
}

/*
 * The DKIM-Signature fields for what went through d, one per key, in the
 * order of the configuration, CRLF-ended; *len is their length.  Frees d.
 */
char *
dkim_final(struct dkim *d, size_t *len, struct err *e)
{
	struct strbuf	 out = { NULL, 0, 0 }, canon = { NULL, 0, 0 };
	unsigned char	 md[CRYPTO_MAXMD];
	char		*bh = NULL, *h = NULL;
	const char	**names = NULL;
	size_t		 nnames, i;
	int		 rc = -1;

	if (!d->inbody) {
		/* A message without a body still has its empty line. */
		if (d->hdr.len < 2 || memcmp(d->hdr.s + d->hdr.len - 2,
		    "\r\n", 2) != 0)
			util_stradd(&d->hdr, "\r\n", 2);
		util_stradd(&d->hdr, "\r\n", 2);
	}
	if (dkim_body_final(&d->body, md) == -1) {
		d->body.h = NULL;
		err_set(e, ERR_SOFTWARE, "DKIM: the body hash failed");
		goto out;
	}
	d->body.h = NULL;
	bh = crypto_b64enc(md, crypto_mdsize(CRYPTO_SHA256));
	h = h_list(d, &names, &nnames);
	dkim_select(d->hdr.s, d->hdr.len, names, nnames, &canon);
	for (i = 0; i < d->a->ndkim; i++)
		if (sign_one(d, &d->a->dkim[i], h, bh, &canon, &out, e) == -1)
			goto out;
	*len = out.len;
	rc = 0;
out:
	free(bh);
	free(h);
	free(names);
	free(canon.s);
	dkim_free(d);
	if (rc == -1) {
		free(out.s);
		return NULL;
	}
	return out.s;
}

void
dkim_free(struct dkim *d)
{
	unsigned char	md[CRYPTO_MAXMD];

	if (d == NULL)
		return;
	if (d->body.h != NULL)
		(void)crypto_hash_final(d->body.h, md);
	free(d->hdr.s);
	free(d);
}

/*
 * What to publish in the DNS for each key of a (postern --check): the
 * name and the TXT record, in strings of at most 255 octets (RFC 1035
 * 3.3.14; DKIM joins them, RFC 6376 3.6.2.2).
 */
void
dkim_records(const struct account *a, FILE *fp)
{
	size_t	 i, n, k;
	char	*p, *txt;

	for (i = 0; i < a->ndkim; i++) {
		const struct dkimkey *dk = &a->dkim[i];

		if ((p = crypto_key_public(dk->key)) == NULL)
			continue;
		xasprintf(&txt, "v=DKIM1; k=%s; p=%s",
		    crypto_key_type(dk->key) == CRYPTO_KEY_ED25519 ?
		    "ed25519" : "rsa", p);
		free(p);
		fprintf(fp, "DKIM: %s %s, %d bits: %s._domainkey.%s IN TXT",
		    dk->file, alg_name(dk->key), crypto_key_bits(dk->key),
		    dk->selector, a->dkim_domain);
		for (n = strlen(txt), p = txt; n > 0; p += k, n -= k) {
			k = n > 255 ? 255 : n;
			fprintf(fp, " \"%.*s\"", (int)k, p);
		}
		fputc('\n', fp);
		free(txt);
	}
}
