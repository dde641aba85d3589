/*
 * RFC 2047 encoding, round-tripped through a decoder this target owns
 * (not rfc2047_decode, which would share the encoder's mistakes): every
 * word is at most 75 characters, holds only what its encoding allows,
 * and the words decode back to the input exactly.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/extern.h"
#include "fuzz.h"

static int
b64val(int c)
{
	const char	*t = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char	*p = c != '\0' ? strchr(t, c) : NULL;

	return p != NULL ? (int)(p - t) : -1;
}

/* Decode one word "=?cs?e?text?=" of length n, appending to out. */
static size_t
word(const char *w, size_t n, unsigned char *out)
{
	const char	*q1, *q2, *t, *end = w + n - 2;
	size_t		 o = 0;
	unsigned int	 acc = 0;
	int		 bits = 0, v;

	INVARIANT(n <= 75 && n > 7 && w[0] == '=' && w[1] == '?');
	INVARIANT(w[n - 2] == '?' && w[n - 1] == '=');
	q1 = memchr(w + 2, '?', n - 2);
	INVARIANT(q1 != NULL && q1[2] == '?');
	q2 = q1 + 2;
	INVARIANT((q1 - w - 2 == 5 && strncasecmp(w + 2, "utf-8", 5) == 0) ||
	    (q1 - w - 2 == 12 && strncasecmp(w + 2, "unknown-8bit", 12) == 0));
	for (t = q2 + 1; t < end; t++) {
		if (toupper((unsigned char)q1[1]) == 'B') {
			if (*t == '=')
				break;
			INVARIANT((v = b64val(*t)) >= 0);
			acc = acc << 6 | (unsigned int)v;
			if ((bits += 6) >= 8) {
				bits -= 8;
				out[o++] = (unsigned char)(acc >> bits);
			}
		} else if (*t == '_')
			out[o++] = ' ';
		else if (*t == '=') {
			INVARIANT(t + 2 < end + 1 && isxdigit((unsigned char)t[1]) &&
			    isxdigit((unsigned char)t[2]));
			char hex[3] = { t[1], t[2], '\0' };
			out[o++] = (unsigned char)strtoul(hex, NULL, 16);
			t += 2;
		} else {
			/* RFC 2047 5(3): what may stand for itself. */
			INVARIANT(isalnum((unsigned char)*t) ||
			    strchr("!*+-/", *t) != NULL);
			out[o++] = (unsigned char)*t;
		}
	}
	return o;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char		*enc, *p, *sp;
	unsigned char	*dec;
	size_t		 o = 0;

	if (size > 4096)
		return 0;
	enc = rfc2047_encode((const char *)data, size);
	if (enc == NULL)
		return 0;
	dec = malloc(strlen(enc) + 1);
	INVARIANT(dec != NULL);
	/* Words are separated by single spaces, the places to fold. */
	for (p = enc; *p != '\0'; p = sp + (*sp == ' ')) {
		sp = p + strcspn(p, " ");
		o += word(p, (size_t)(sp - p), dec + o);
	}
	INVARIANT(o == size && memcmp(dec, data, size) == 0);
	free(dec);
	free(enc);
	return 0;
}
