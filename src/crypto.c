/*
 * Thin wrappers over OpenSSL's crypto for what SASL, Message-IDs and
 * (later) DKIM need.  Nothing here is hand-written crypto or encoding.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "extern.h"

/* Base64 of n bytes, NUL-terminated, on the heap. */
char *
crypto_b64enc(const void *p, size_t n)
{
	char	*out;

	out = xcalloc(1, 4 * ((n + 2) / 3) + 1);
	(void)EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/*
 * Decode strict base64 (no white space, padding required).  Returns -1
 * for anything that is not base64.
 */
int
crypto_b64dec(const char *s, unsigned char **out, size_t *outlen)
{
	size_t	len = strlen(s), pad = 0;
	int	n;

	*out = NULL;
	if (len % 4 != 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
		return -1;
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	if (strchr(s, '=') != NULL && strchr(s, '=') < s + len - pad)
		return -1;
	*out = xcalloc(1, len / 4 * 3 + 1);
	n = EVP_DecodeBlock(*out, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*outlen = (size_t)n - pad;
	return 0;
}
