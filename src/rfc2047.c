/*
 * RFC 2047 encoded words for raw 8-bit header text (what PHP mail() and
 * scripts send): UTF-8 where the bytes are UTF-8, "unknown-8bit"
 * (RFC 1428) where they are not; B or Q, whichever is shorter; every
 * word at most 75 characters (RFC 2047 section 2) and never splitting a
 * character (section 5(3)).  The decoder serves -t display names and the
 * tests.  Pure functions, no I/O.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define EW_MAX	75	/* RFC 2047 section 2 */

/*
 * The length of the well-formed UTF-8 sequence at s (RFC 3629 section 4:
 * no overlong forms, no surrogates, nothing past U+10FFFF), or 0.
 */
size_t
rfc2047_utf8len(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

int
rfc2047_utf8valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 k;

	while (n > 0) {
		if ((k = rfc2047_utf8len(p, n)) == 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/*
 * Q may leave only these bytes as they are (RFC 2047 section 5(3), the
 * strictest context: a phrase), so one encoder serves every context.
 */
static int
qsafe(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/';
}

static size_t
qcost(unsigned char c)
{
	return qsafe(c) || c == ' ' ? 1 : 3;
}

static void
put(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*out = xreallocarray(*out, *cap, 1);
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

static void
put_word(char **out, size_t *len, size_t *cap, const char *cs, int b,
    const unsigned char *s, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*b64, q[3];
	size_t			 i;

	if (*len > 0)
		put(out, len, cap, " ", 1);
	put(out, len, cap, "=?", 2);
	put(out, len, cap, cs, strlen(cs));
	put(out, len, cap, b ? "?b?" : "?q?", 3);
	if (b) {
		b64 = crypto_b64enc(s, n);
		put(out, len, cap, b64, strlen(b64));
		free(b64);
	} else {
		for (i = 0; i < n; i++) {
			if (s[i] == ' ')
				put(out, len, cap, "_", 1);
			else if (qsafe(s[i]))
				put(out, len, cap, (const char *)&s[i], 1);
			else {
				q[0] = '=';
				q[1] = hex[s[i] >> 4];
				q[2] = hex[s[i] & 15];
				put(out, len, cap, q, 3);
			}
		}
	}
	put(out, len, cap, "?=", 2);
}

/* Encode s as words of one encoding; whole characters per word. */
static char *
encode_as(const unsigned char *s, size_t n, int utf8, int b)
{
	const char	*cs = utf8 ? "utf-8" : "unknown-8bit";
	size_t		 avail = EW_MAX - (2 + strlen(cs) + 3 + 2);
	size_t		 i = 0, j, k, cost, len = 0, cap = 0;
	char		*out = NULL;

	put(&out, &len, &cap, "", 0);
	while (i < n) {
		for (j = i, cost = 0; j < n; j += k) {
			k = utf8 ? rfc2047_utf8len(s + j, n - j) : 1;
			if (b && 4 * ((j + k - i + 2) / 3) > avail)
				break;
			if (!b && cost + (k == 1 ? qcost(s[j]) : 3 * k) >
			    avail)
				break;
			cost += k == 1 ? qcost(s[j]) : 3 * k;
		}
		put_word(&out, &len, &cap, cs, b, s + i, j - i);
		i = j;
	}
	return out;
}

/*
 * The encoded words for the n bytes at s, separated by single spaces
 * (where the caller may fold).  A decoder drops the white space between
 * adjacent encoded words (RFC 2047 section 6.2), so spaces of the text
 * stay inside the words.
 */
char *
rfc2047_encode(const char *s, size_t n)
{
	int	 utf8 = rfc2047_utf8valid(s, n);
	char	*q, *b;

	q = encode_as((const unsigned char *)s, n, utf8, 0);
	b = encode_as((const unsigned char *)s, n, utf8, 1);
	if (strlen(b) < strlen(q)) {
		free(q);
		return b;
	}
	free(b);
	return q;
}

/*
 * Decode one encoded word at s (length n, "=?cs?e?text?="), appending the
 * bytes.  Returns -1 when it is not a well-formed encoded word.
 */
static int
decode_word(const char *s, size_t n, char **out, size_t *len, size_t *cap)
{
	const char	*q1, *q2, *t;
	unsigned char	*bin;
	char		*tmp;
	size_t		 tl, bl, i;
	int		 h1, h2;

	if (n < 8 || strncmp(s, "=?", 2) != 0 || strncmp(s + n - 2, "?=", 2))
		return -1;
	if ((q1 = memchr(s + 2, '?', n - 4)) == NULL || q1 + 3 > s + n - 2 ||
	    q1[2] != '?')
		return -1;
	q2 = q1 + 1;
	t = q1 + 3;
	tl = (size_t)(s + n - 2 - t);
	if (memchr(t, '?', tl) != NULL || memchr(t, ' ', tl) != NULL)
		return -1;
	if (*q2 == 'B' || *q2 == 'b') {
		tmp = xcalloc(1, tl + 1);
		memcpy(tmp, t, tl);
		i = (size_t)crypto_b64dec(tmp, &bin, &bl);
		free(tmp);
		if ((int)i == -1)
			return -1;
		put(out, len, cap, (char *)bin, bl);
		free(bin);
		return 0;
	}
	if (*q2 != 'Q' && *q2 != 'q')
		return -1;
	for (i = 0; i < tl; i++) {
		char c = t[i];

		if (c == '_')
			c = ' ';
		else if (c == '=') {
			if (i + 2 >= tl || (h1 = util_hexval(t[i + 1])) == -1 ||
			    (h2 = util_hexval(t[i + 2])) == -1)
				return -1;
			c = (char)(h1 << 4 | h2);
			i += 2;
		}
		put(out, len, cap, &c, 1);
	}
	return 0;
}

/*
 * Decode the encoded words of unstructured text s; other text is kept,
 * white space between two encoded words is dropped (RFC 2047 section
 * 6.2).  The charset is not converted: the bytes come back as they were.
 */
char *
rfc2047_decode(const char *s, size_t n, size_t *outlen)
{
	char	*out = NULL, *w = NULL;
	size_t	 len = 0, cap = 0, wlen, wcap = 0, i = 0, j, ws;
	int	 prev_ew = 0;

	put(&out, &len, &cap, "", 0);
	while (i < n) {
		for (ws = i; i < n && (s[i] == ' ' || s[i] == '\t' ||
		    s[i] == '\r' || s[i] == '\n'); i++)
			;
		for (j = i; j < n && s[j] != ' ' && s[j] != '\t' &&
		    s[j] != '\r' && s[j] != '\n'; j++)
			;
		wlen = 0;
		if (j > i && decode_word(s + i, j - i, &w, &wlen, &wcap) == 0) {
			if (!prev_ew)
				put(&out, &len, &cap, s + ws, i - ws);
			put(&out, &len, &cap, w, wlen);
			prev_ew = 1;
		} else {
			put(&out, &len, &cap, s + ws, j - ws);
			prev_ew = 0;
		}
		i = j;
	}
	free(w);
	if (outlen != NULL)
		*outlen = len;
	return out;
}
