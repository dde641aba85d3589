/*
 * Thin wrappers over OpenSSL's crypto for what SASL, Message-IDs and
 * (later) DKIM need.  Nothing here is hand-written crypto or encoding.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

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

static const EVP_MD *
crypto_md(enum crypto_md md)
{
	switch (md) {
	case CRYPTO_MD5:
		return EVP_md5();
	case CRYPTO_SHA1:
		return EVP_sha1();
	case CRYPTO_SHA256:
		return EVP_sha256();
	}
	return NULL;
}

/* The digest's output size in bytes. */
size_t
crypto_mdsize(enum crypto_md md)
{
	return (size_t)EVP_MD_get_size(crypto_md(md));
}

/* out (crypto_mdsize(md) bytes) = H(data) */
int
crypto_hash(enum crypto_md md, const void *data, size_t len,
    unsigned char *out)
{
	unsigned int	n;

	return EVP_Digest(data, len, out, &n, crypto_md(md), NULL) == 1 ?
	    0 : -1;
}

/* out (crypto_mdsize(md) bytes) = HMAC-H(key, data) (RFC 2104) */
int
crypto_hmac(enum crypto_md md, const void *key, size_t keylen,
    const void *data, size_t len, unsigned char *out)
{
	unsigned int	n;

	return HMAC(crypto_md(md), key, (int)keylen, data, len, out, &n) ==
	    NULL ? -1 : 0;
}

/* out (crypto_mdsize(md) bytes) = PBKDF2-HMAC-H (RFC 8018) */
int
crypto_pbkdf2(enum crypto_md md, const char *pass, size_t passlen,
    const unsigned char *salt, size_t saltlen, unsigned int iter,
    unsigned char *out)
{
	return PKCS5_PBKDF2_HMAC(pass, (int)passlen, salt, (int)saltlen,
	    (int)iter, crypto_md(md), (int)crypto_mdsize(md), out) == 1 ?
	    0 : -1;
}

/* Compare secrets in constant time. */
int
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
