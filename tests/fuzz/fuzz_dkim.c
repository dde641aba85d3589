/*
 * DKIM signing of a message (the prepared file's form: CRLF line ends).
 * The input is made a message with CRLF line ends and, at a point the
 * input chooses, given to the signer in two pieces.  Checked:
 *   - the relaxed body hash equals the one of a reference
 *     canonicalization this target owns (line by line, as RFC 6376
 *     3.4.4 words it), whatever the pieces;
 *   - each canonical header field has a lower-case name, a colon, and
 *     no CR, LF, tab, run of spaces or space at either end of the value;
 *   - the DKIM-Signature field keeps the wire rules, no line of it
 *     reaches 78 columns, and it is the same whatever the pieces.
 * The key is tests/dkim/ed25519.pem (run from the top of the tree).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "fuzz.h"

static struct crypto_key	*key;

/* RFC 6376 3.4.4, line by line: the reference the signer must match. */
static char *
ref_bodyhash(const char *b, size_t n)
{
	struct strbuf	 out = { NULL, 0, 0 };
	size_t		 i = 0, end, k, blank = 0;
	unsigned char	 md[CRYPTO_MAXMD];
	char		*line;

	util_stradd(&out, "", 0);
	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);

		end = nl != NULL ? (size_t)(nl - b) : n;
		/* The line without its CRLF; white space runs made one SP. */
		line = malloc(end - i + 1);
		INVARIANT(line != NULL);
		for (k = 0; i < end; i++) {
			if (b[i] == '\r')
				continue;
			if (b[i] == ' ' || b[i] == '\t') {
				if (k == 0 || line[k - 1] != ' ')
					line[k++] = ' ';
			} else
				line[k++] = b[i];
		}
		if (k > 0 && line[k - 1] == ' ')
			k--;
		if (k == 0)
			blank++;
		else {
			for (; blank > 0; blank--)
				util_stradd(&out, "\r\n", 2);
			util_stradd(&out, line, k);
			util_stradd(&out, "\r\n", 2);
		}
		free(line);
		i = end + 1;
	}
	INVARIANT(crypto_hash(CRYPTO_SHA256, out.s, out.len, md) == 0);
	free(out.s);
	return crypto_b64enc(md, 32);
}

static void
check_canon(const char *f, size_t n)
{
	struct strbuf	 s = { NULL, 0, 0 };
	const char	*colon;
	size_t		 i;

	util_stradd(&s, "", 0);
	dkim_canon_header(f, n, &s);
	colon = strchr(s.s, ':');
	INVARIANT(colon != NULL);
	for (i = 0; s.s + i < colon; i++)
		INVARIANT(!isupper((unsigned char)s.s[i]));
	for (i = (size_t)(colon - s.s) + 1; i < s.len; i++) {
		INVARIANT(s.s[i] != '\r' && s.s[i] != '\n' && s.s[i] != '\t');
		INVARIANT(s.s[i] != ' ' || (s.s[i - 1] != ' ' &&
		    s.s + i != colon + 1 && i + 1 < s.len));
	}
	free(s.s);
}

/* The signer's body hash, from the bh= tag of its field. */
static char *
field_bh(const char *sig)
{
	struct strbuf	 flat = { NULL, 0, 0 };
	const char	*p;
	char		*bh;

	for (p = sig; *p != '\0'; p++)
		if (strchr(" \t\r\n", *p) == NULL)
			util_stradd(&flat, p, 1);
	p = strstr(flat.s, ";bh=");
	INVARIANT(p != NULL);
	p += 4;
	bh = strndup(p, strcspn(p, ";"));
	free(flat.s);
	return bh;
}

static char *
sign(const struct account *a, const char *m, size_t n, size_t cut)
{
	struct dkim	*d;
	struct err	 e;
	char		*sig;
	size_t		 len;

	d = dkim_new(a, 1800000000);
	dkim_update(d, m, cut);
	dkim_update(d, m + cut, n - cut);
	sig = dkim_final(d, &len, &e);
	INVARIANT(sig != NULL && len == strlen(sig));
	return sig;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char	 sel[] = "s", file[] = "fuzz", dom[] = "example.org";
	static char	 h0[] = "from", h1[] = "subject", h2[] = "to";
	static char	*h[] = { h0, h1, h2 };
	struct dkimkey	 dk;
	struct account	 a;
	struct strbuf	 m = { NULL, 0, 0 };
	const char	*body, *p, *nl;
	char		*s1, *s2, *bh, *ref;
	size_t		 i, cut, col, hlen;

	if (size < 1 || size > 65536)
		return 0;
	if (key == NULL) {
		FILE		*fp = fopen("tests/dkim/ed25519.pem", "r");
		const char	*why;

		INVARIANT(fp != NULL && crypto_key_read(fp, &key, &why) == 0);
		fclose(fp);
	}
	/* The prepared file's form: CRLF only, no NUL, ends in CRLF. */
	util_stradd(&m, "", 0);
	for (i = 1; i < size; i++) {
		if (data[i] == '\n' || data[i] == '\r') {
			if (data[i] == '\r' && i + 1 < size &&
			    data[i + 1] == '\n')
				i++;
			util_stradd(&m, "\r\n", 2);
		} else if (data[i] != '\0')
			util_stradd(&m, (const char *)data + i, 1);
	}
	if (m.len < 2 || memcmp(m.s + m.len - 2, "\r\n", 2) != 0)
		util_stradd(&m, "\r\n", 2);
	cut = data[0] * m.len / 256;

	memset(&a, 0, sizeof(a));
	dk.selector = sel;
	dk.file = file;
	dk.key = key;
	a.dkim = &dk;
	a.ndkim = 1;
	a.dkim_domain = dom;
	a.dkim_h = h;
	a.ndkim_h = 3;
	s1 = sign(&a, m.s, m.len, cut);
	s2 = sign(&a, m.s, m.len, 0);
	INVARIANT(strcmp(s1, s2) == 0);
	check_wire((const unsigned char *)s1, strlen(s1));
	INVARIANT(strncmp(s1, "DKIM-Signature: v=1; a=ed25519-sha256;", 38) ==
	    0);
	for (p = s1; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2) {
		col = (size_t)(nl - p) + (*p == '\t' ? 7 : 0);
		INVARIANT(col < 78);
	}

	/* The body: after the first empty line, or none at all. */
	if (m.len >= 2 && memcmp(m.s, "\r\n", 2) == 0)
		body = m.s + 2;
	else if ((body = strstr(m.s, "\r\n\r\n")) != NULL)
		body += 4;
	else
		body = m.s + m.len;
	bh = field_bh(s1);
	ref = ref_bodyhash(body, (size_t)(m.s + m.len - body));
	INVARIANT(strcmp(bh, ref) == 0);

	/* Each header field, canonicalized alone. */
	hlen = (size_t)(body - m.s);
	for (p = m.s; p < m.s + hlen && !(p[0] == '\r' && p[1] == '\n');
	    p = nl) {
		nl = p;
		do {
			nl = strstr(nl, "\r\n") + 2;
		} while (nl < m.s + hlen && (*nl == ' ' || *nl == '\t'));
		check_canon(p, (size_t)(nl - 2 - p));
	}
	free(bh);
	free(ref);
	free(s1);
	free(s2);
	free(m.s);
	return 0;
}
