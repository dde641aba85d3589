/*
 * Addresses: the checks an envelope address from the command line must
 * pass, and a complete RFC 5322 address-list parser (section 3.4, with
 * the obsolete forms of section 4.4: routes, phrases with dots, CFWS
 * around dots, empty list elements), used for -t and for the header
 * fix-ups.  UTF-8 in atoms is accepted (RFC 6532 section 3.2).
 *
 * The parser does not rewrite anything.  It reports the addr-specs in
 * their SMTP form (RFC 5321 section 4.1.2: a local part that is not a
 * dot-string is quoted) and "edits" that msg.c may apply to the field:
 * where a bare local name ends (to qualify it with maildomain) and which
 * display-name words and comments hold 8-bit text (to become encoded
 * words, RFC 2047 section 5(1) and 5(3)).
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

/*
 * An envelope address given as an argument: no control characters (so
 * no CR, LF or NUL can reach a command), no angle brackets, no white
 * space but inside a quoted local part (RFC 5321 4.1.2: '"john
 * doe"@example.org'), and no leading "-" (it would read as an option).
 */
int
addr_valid_arg(const char *a, struct err *e)
{
	const unsigned char	*p;
	int			 quoted = 0;

	if (*a == '\0')
		return err_set(e, ERR_USAGE, "empty address");
	if (*a == '-')
		return err_set(e, ERR_USAGE, "address '%s' begins with '-'",
		    a);
	for (p = (const unsigned char *)a; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>' ||
		    (*p == ' ' && !quoted))
			return err_set(e, ERR_USAGE, "invalid character "
			    "0x%02x in address '%.*s'", *p,
			    (int)strcspn(a, "\r\n"), a);
		if (*p == '"' && (p == (const unsigned char *)a || quoted))
			quoted = !quoted;
		else if (*p == '\\' && quoted && p[1] >= 0x20 && p[1] != 0x7f)
			p++;
	}
	if (quoted)
		return err_set(e, ERR_USAGE, "unterminated quote in address "
		    "'%s'", a);
	return 0;
}

/* "root" -> "root@maildomain"; anything with an "@" is kept. */
char *
addr_qualify(const char *a, const char *domain)
{
	char	*s;

	if (*a == '\0' || strchr(a, '@') != NULL || domain == NULL)
		return xstrdup(a);
	xasprintf(&s, "%s@%s", a, domain);
	return s;
}

/* --- the RFC 5322 parser -------------------------------------------- */

#define MAXWORDS	256	/* words in one phrase or local part */

struct word {
	size_t	 off, len;	/* as written, quotes included */
	char	*val;		/* quotes and quoted-pairs undone */
	int	 quoted;
	int	 dot;		/* a "." token (obs-phrase, local part) */
	int	 eightbit;
	int	 cfws_before;	/* a comment came before it */
};

struct parser {
	const char	*s;
	size_t		 n, i;
	struct addrlist	*l;
	struct word	 w[MAXWORDS];
	size_t		 nw;
	const char	*why;
};

static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static void
add_edit(struct addrlist *l, size_t off, size_t len, char *text, int comment)
{
	struct addredit	*ed;

	/* Doubling (at 0, 1, 2, 4...): not one copy per edit. */
	if ((l->ned & (l->ned - 1)) == 0)
		l->ed = xreallocarray(l->ed, 2 * l->ned + 1, sizeof(*l->ed));
	ed = &l->ed[l->ned++];
	ed->off = off;
	ed->len = len;
	ed->text = text;
	ed->comment = comment;
}

/*
 * A comment at p->i (just past "(").  One that holds 8-bit text and no
 * nesting or quoted-pair becomes an edit: its text can be encoded words
 * (RFC 2047 section 5(2)).
 */
static int
comment(struct parser *p)
{
	size_t	start = p->i, depth = 1;
	int	simple = 1;
	char	*t;

	while (p->i < p->n && depth > 0) {
		char c = p->s[p->i++];

		if (c == '\\') {
			simple = 0;
			if (p->i++ >= p->n)
				break;
		} else if (c == '(') {
			simple = 0;
			depth++;
		} else if (c == ')')
			depth--;
	}
	if (depth > 0) {
		p->why = "unterminated comment";
		return -1;
	}
	if (simple && util_has8bit(p->s + start, p->i - 1 - start)) {
		t = xcalloc(1, p->i - start);
		memcpy(t, p->s + start, p->i - 1 - start);
		add_edit(p->l, start, p->i - 1 - start, t, 1);
	}
	return 0;
}

/* Skip CFWS; returns 1 when a comment was seen, -1 on error. */
static int
cfws(struct parser *p)
{
	int	seen = 0;

	while (p->i < p->n) {
		char c = p->s[p->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			p->i++;
		else if (c == '(') {
			p->i++;
			if (comment(p) == -1)
				return -1;
			seen = 1;
		} else
			break;
	}
	return seen;
}

static int
quoted(struct parser *p, struct word *w)
{
	struct strbuf	v = { NULL, 0, 0 };

	/* Grown as needed: one of 100,000 words must not cost the rest. */
	util_stradd(&v, "", 0);
	for (p->i++; p->i < p->n && p->s[p->i] != '"'; p->i++) {
		char c = p->s[p->i];

		if (c == '\\' && p->i + 1 < p->n)
			c = p->s[++p->i];
		else if (c == '\n' || (c == '\r' && p->i + 1 < p->n &&
		    p->s[p->i + 1] == '\n'))
			continue;	/* FWS: unfolding (RFC 5322 3.2.2) */
		util_stradd(&v, &c, 1);
	}
	if (p->i >= p->n) {
		free(v.s);
		p->why = "unterminated quoted string";
		return -1;
	}
	p->i++;
	w->val = v.s;
	w->quoted = 1;
	return 0;
}

static void
free_words(struct parser *p)
{
	size_t	i;

	for (i = 0; i < p->nw; i++)
		free(p->w[i].val);
	p->nw = 0;
}

/*
 * Words and dots, with CFWS between them: the start of every address
 * (a phrase, or a local part).  What follows decides which it was.
 */
static int
words(struct parser *p)
{
	struct word	*w;
	int		 c;

	for (;;) {
		if ((c = cfws(p)) == -1)
			return -1;
		if (p->i >= p->n)
			return 0;
		if (p->nw == MAXWORDS) {
			p->why = "too many words";
			return -1;
		}
		w = &p->w[p->nw];
		memset(w, 0, sizeof(*w));
		w->off = p->i;
		w->cfws_before = c;
		if (p->s[p->i] == '"') {
			if (quoted(p, w) == -1)
				return -1;
		} else if (p->s[p->i] == '.') {
			p->i++;
			w->dot = 1;
			w->val = xstrdup(".");
		} else if (is_atext((unsigned char)p->s[p->i])) {
			while (p->i < p->n &&
			    is_atext((unsigned char)p->s[p->i]))
				p->i++;
			w->val = xcalloc(1, p->i - w->off + 1);
			memcpy(w->val, p->s + w->off, p->i - w->off);
		} else
			return 0;
		w->len = p->i - w->off;
		w->eightbit = util_has8bit(w->val, strlen(w->val));
		p->nw++;
	}
}

/*
 * Display-name words with 8-bit text become edits: each run of such
 * words with only white space between them is one span, so that the
 * spaces survive decoding (RFC 2047 section 6.2 drops white space between
 * adjacent encoded words).
 */
static void
phrase_edits(struct parser *p)
{
	size_t	 i, j, k, len;
	char	*t;

	for (i = 0; i < p->nw; i = j) {
		if (!p->w[i].eightbit || p->w[i].dot) {
			j = i + 1;
			continue;
		}
		for (j = i + 1, len = strlen(p->w[i].val); j < p->nw &&
		    p->w[j].eightbit && !p->w[j].dot &&
		    !p->w[j].cfws_before; j++)
			len += 1 + strlen(p->w[j].val);
		t = xcalloc(1, len + 1);
		for (k = i; k < j; k++) {
			if (k > i)
				(void)strlcat(t, " ", len + 1);
			(void)strlcat(t, p->w[k].val, len + 1);
		}
		add_edit(p->l, p->w[i].off, p->w[j - 1].off + p->w[j - 1].len -
		    p->w[i].off, t, 0);
	}
}

/* A dot-atom text needs no quotes in SMTP (RFC 5321 section 4.1.2). */
static int
is_dotstring(const char *s)
{
	int	prev_dot = 1;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
		} else if (!is_atext((unsigned char)*s))
			return 0;
		else
			prev_dot = 0;
	}
	return !prev_dot;
}

/* The local part from the words: word *("." word), section 4.4. */
static char *
local_part(struct parser *p)
{
	size_t	 i, len = 0, k = 0;
	char	*raw, *out;

	for (i = 0; i < p->nw; i++) {
		if (p->w[i].dot != (i % 2 == 1))
			return NULL;
		len += strlen(p->w[i].val);
	}
	if (p->nw == 0 || p->nw % 2 == 0)
		return NULL;
	raw = xcalloc(1, len + 1);
	for (i = 0; i < p->nw; i++)
		(void)strlcat(raw, p->w[i].val, len + 1);
	if (is_dotstring(raw))
		return raw;
	out = xcalloc(1, 2 * len + 3);
	out[k++] = '"';
	for (i = 0; i < len; i++) {
		if (raw[i] == '"' || raw[i] == '\\')
			out[k++] = '\\';
		out[k++] = raw[i];
	}
	out[k++] = '"';
	free(raw);
	return out;
}

/* A domain: dot-atom, domain-literal, or obs-domain (CFWS by the dots). */
static char *
domain(struct parser *p)
{
	struct strbuf	d = { NULL, 0, 0 };

	if (cfws(p) == -1)
		return NULL;
	/* Grown as needed, not the size of the rest: see quoted(). */
	util_stradd(&d, "", 0);
	if (p->i < p->n && p->s[p->i] == '[') {
		while (p->i < p->n && p->s[p->i] != ']') {
			if (p->s[p->i] == '\\' && p->i + 1 < p->n)
				util_stradd(&d, p->s + p->i++, 1);
			if (p->s[p->i] != '\r' && p->s[p->i] != '\n')
				util_stradd(&d, p->s + p->i, 1);
			p->i++;
		}
		if (p->i >= p->n) {
			p->why = "unterminated domain literal";
			free(d.s);
			return NULL;
		}
		util_stradd(&d, p->s + p->i++, 1);
		return d.s;
	}
	for (;;) {
		while (p->i < p->n && is_atext((unsigned char)p->s[p->i]))
			util_stradd(&d, p->s + p->i++, 1);
		if (d.len == 0 || d.s[d.len - 1] == '.' || cfws(p) == -1)
			break;
		if (p->i >= p->n || p->s[p->i] != '.')
			return d.s;
		util_stradd(&d, p->s + p->i++, 1);
		if (cfws(p) == -1)
			break;
	}
	if (p->why == NULL)
		p->why = "invalid domain";
	free(d.s);
	return NULL;
}

/*
 * Can spec go into an SMTP command?  No control character (a TAB or a
 * bare CR has no SMTP form even quoted: RFC 5321 section 4.1.2), and
 * 8-bit bytes only as UTF-8 (RFC 6531).
 */
static int
smtp_able(struct parser *p, const char *spec)
{
	const unsigned char	*c;

	for (c = (const unsigned char *)spec; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f) {
			p->why = "control character in the address";
			return 0;
		}
	if (!rfc2047_utf8valid(spec, strlen(spec))) {
		p->why = "8-bit address that is not UTF-8";
		return 0;
	}
	return 1;
}

static int
add_addr(struct parser *p, char *spec, int bare)
{
	struct addrlist	*l = p->l;

	if (!smtp_able(p, spec)) {
		free(spec);
		return -1;
	}

	/* Doubling: 100,000 addresses must not cost 100,000 copies. */
	if ((l->n & (l->n - 1)) == 0)
		l->v = xreallocarray(l->v, 2 * l->n + 1, sizeof(*l->v));
	l->v[l->n].spec = spec;
	l->v[l->n].bare = bare;
	l->n++;
	return 0;
}

/*
 * The words just read were a local part: "@" domain follows, or nothing
 * (a bare local name such as cron's "root", qualified later).
 */
static int
spec_from_words(struct parser *p)
{
	char	*local, *dom, *spec;
	size_t	 end;

	if ((local = local_part(p)) == NULL) {
		p->why = "invalid local part";
		return -1;
	}
	end = p->w[p->nw - 1].off + p->w[p->nw - 1].len;
	free_words(p);
	if (p->i >= p->n || p->s[p->i] != '@') {
		add_edit(p->l, end, 0, NULL, 0);
		return add_addr(p, local, 1);
	}
	p->i++;
	if ((dom = domain(p)) == NULL) {
		free(local);
		return -1;
	}
	xasprintf(&spec, "%s@%s", local, dom);
	free(local);
	free(dom);
	return add_addr(p, spec, 0);
}

/* obs-route (RFC 5322 section 4.4): "@a,@b:" before the addr-spec. */
static int
route(struct parser *p)
{
	char	*d;

	while (p->i < p->n && p->s[p->i] == '@') {
		p->i++;
		if ((d = domain(p)) == NULL)
			return -1;
		free(d);
		while (p->i < p->n && (p->s[p->i] == ',' ||
		    p->s[p->i] == ' ' || p->s[p->i] == '\t')) {
			p->i++;
			if (cfws(p) == -1)
				return -1;
		}
		if (p->i < p->n && p->s[p->i] == ':') {
			p->i++;
			return 0;
		}
	}
	p->why = "invalid route";
	return -1;
}

/* angle-addr, from "<" (section 3.4; obs-angle-addr, section 4.4). */
static int
angle(struct parser *p)
{
	p->i++;
	if (cfws(p) == -1)
		return -1;
	if (p->i < p->n && p->s[p->i] == '@' && route(p) == -1)
		return -1;
	if (words(p) == -1)
		return -1;
	if (p->nw == 0) {
		p->why = p->i < p->n && p->s[p->i] == '>' ? "empty address" :
		    "invalid local part";
		return -1;
	}
	if (spec_from_words(p) == -1)
		return -1;
	if (cfws(p) == -1)
		return -1;
	if (p->i >= p->n || p->s[p->i] != '>') {
		p->why = "expected '>'";
		return -1;
	}
	p->i++;
	return 0;
}

static int mailbox(struct parser *, int);

/* group = display-name ":" [group-list] ";" (section 3.4) */
static int
group(struct parser *p)
{
	p->i++;
	for (;;) {
		if (cfws(p) == -1)
			return -1;
		if (p->i >= p->n) {
			p->why = "group without ';'";
			return -1;
		}
		if (p->s[p->i] == ';') {
			p->i++;
			return 0;
		}
		if (p->s[p->i] == ',') {	/* obs-group-list */
			p->i++;
			continue;
		}
		if (mailbox(p, 0) == -1)
			return -1;
		if (p->i < p->n && p->s[p->i] == ',')
			p->i++;
		else if (p->i >= p->n) {
			p->why = "group without ';'";
			return -1;
		} else if (p->s[p->i] != ';') {
			p->why = "expected ',' or ';'";
			return -1;
		}
	}
}

/* One address: a mailbox, or (when allowed) a group. */
static int
mailbox(struct parser *p, int allow_group)
{
	int	rc;

	if (words(p) == -1)
		return -1;
	if (p->i < p->n && p->s[p->i] == '<') {
		phrase_edits(p);
		free_words(p);
		rc = angle(p);
	} else if (p->i < p->n && p->s[p->i] == ':' && allow_group &&
	    p->nw > 0) {
		phrase_edits(p);
		free_words(p);
		rc = group(p);
	} else if (p->nw == 0) {
		p->why = "no address";
		rc = -1;
	} else
		rc = spec_from_words(p);
	if (rc == 0 && cfws(p) == -1)
		rc = -1;
	return rc;
}

/* The element that failed, for the message: up to the next comma. */
static int
parse_error(struct parser *p, size_t start, const char *what, struct err *e)
{
	char		shown[1024];
	size_t		len, i, o = 0;
	unsigned char	c;

	while (start < p->n && strchr(" \t\r\n,", p->s[start]) != NULL)
		start++;
	len = strcspn(p->s + start, ",\r\n");
	if (len > 200)
		len = 200;
	/* UTF-8 is shown as it is; control characters never reach stderr. */
	if (rfc2047_utf8valid(p->s + start, len))
		for (i = 0; i < len && o + 1 < sizeof(shown); i++) {
			c = (unsigned char)p->s[start + i];
			if (c < 0x20 || c == 0x7f)
				o += (size_t)snprintf(shown + o,
				    sizeof(shown) - o, "\\x%02X", c);
			else
				shown[o++] = (char)c;
		}
	else {
		log_escape(shown, sizeof(shown), p->s + start, len);
		o = strlen(shown);
	}
	shown[o < sizeof(shown) ? o : sizeof(shown) - 1] = '\0';
	return err_set(e, ERR_DATA, "%s: cannot parse address '%s': %s",
	    what, shown, p->why != NULL ? p->why : "syntax error");
}

/*
 * Parse the address-list s (a field value, NUL-terminated, folding
 * allowed).  what names the field in the error message.
 */
int
addr_parse(const char *s, const char *what, struct addrlist *l,
    struct err *e)
{
	struct parser	*p;
	size_t		 start;
	int		 rc = 0;

	memset(l, 0, sizeof(*l));
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->n = strlen(s);
	p->l = l;
	for (;;) {
		start = p->i;
		if (cfws(p) == -1 || (p->i < p->n && p->s[p->i] != ',' &&
		    mailbox(p, 1) == -1)) {
			rc = parse_error(p, start, what, e);
			break;
		}
		if (p->i >= p->n)
			break;
		if (p->s[p->i] != ',') {
			p->why = "expected ','";
			rc = parse_error(p, start, what, e);
			break;
		}
		p->i++;
	}
	free_words(p);
	free(p);
	if (rc == -1)
		addr_free(l);
	return rc;
}

void
addr_free(struct addrlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].spec);
	for (i = 0; i < l->ned; i++)
		free(l->ed[i].text);
	free(l->v);
	free(l->ed);
	memset(l, 0, sizeof(*l));
}

/*
 * The same mailbox: local parts compared exactly (RFC 5321 section
 * 2.4: they may be case-sensitive), domains without case.
 */
int
addr_same(const char *a, const char *b)
{
	const char	*da = strrchr(a, '@'), *db = strrchr(b, '@');
	size_t		 la = da != NULL ? (size_t)(da - a) : strlen(a);
	size_t		 lb = db != NULL ? (size_t)(db - b) : strlen(b);

	if (la != lb || strncmp(a, b, la) != 0 || (da == NULL) != (db == NULL))
		return 0;
	return da == NULL || strcasecmp(da, db) == 0;
}

/*
 * A set of addresses compared as addr_same() does (local part exactly,
 * domain without case), so that 100,000 recipients are de-duplicated in
 * linear time: open addressing over FNV-1a hashes, doubling at half full.
 */
static char *
addrset_key(const char *a)
{
	char	*k = xstrdup(a), *d;

	if ((d = strrchr(k, '@')) != NULL)
		for (; *d != '\0'; d++)
			*d = (char)tolower((unsigned char)*d);
	return k;
}

static size_t
addrset_hash(const char *k)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *k != '\0'; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return (size_t)h;
}

static void
addrset_grow(struct addrset *s)
{
	char	**old = s->slot;
	size_t	  ocap = s->cap, i, j;

	s->cap = ocap == 0 ? 64 : 2 * ocap;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	for (i = 0; i < ocap; i++) {
		if (old[i] == NULL)
			continue;
		for (j = addrset_hash(old[i]) & (s->cap - 1); s->slot[j] != NULL;
		    j = (j + 1) & (s->cap - 1))
			;
		s->slot[j] = old[i];
	}
	free(old);
}

/* Add a; 1 when it was not there yet, 0 when it was. */
int
addrset_add(struct addrset *s, const char *a)
{
	char	*k;
	size_t	 j;

	if (2 * (s->n + 1) > s->cap)
		addrset_grow(s);
	k = addrset_key(a);
	for (j = addrset_hash(k) & (s->cap - 1); s->slot[j] != NULL;
	    j = (j + 1) & (s->cap - 1))
		if (strcmp(s->slot[j], k) == 0) {
			free(k);
			return 0;
		}
	s->slot[j] = k;
	s->n++;
	return 1;
}

void
addrset_free(struct addrset *s)
{
	size_t	i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}
