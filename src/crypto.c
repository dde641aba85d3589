/*
 * Thin wrappers over OpenSSL's crypto for what SASL, Message-IDs and
 * DKIM need.  Nothing here is hand-written crypto or encoding.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

struct crypto_hash {
	EVP_MD_CTX	*ctx;
};

/* Start a digest; it ends with crypto_hash_final(). */
struct crypto_hash *
crypto_hash_new(enum crypto_md md)
{
	struct crypto_hash	*h;

	h = xcalloc(1, sizeof(*h));
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, crypto_md(md), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;		/* crypto_hash_final() says -1 */
	}
	return h;
}

void
crypto_hash_update(struct crypto_hash *h, const void *p, size_t n)
{
	if (h->ctx != NULL && EVP_DigestUpdate(h->ctx, p, n) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

/* out = the digest of everything given; frees h. */
int
crypto_hash_final(struct crypto_hash *h, unsigned char *out)
{
	unsigned int	n;
	int		rc = -1;

	if (h->ctx != NULL && EVP_DigestFinal_ex(h->ctx, out, &n) == 1)
		rc = 0;
	EVP_MD_CTX_free(h->ctx);
	free(h);
	return rc;
}

struct crypto_key {
	EVP_PKEY	*pkey;
};

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int
no_passphrase(char *buf, int size, int rw, void *arg)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)arg;
	return -1;
}

/*
 * Read a PEM private key, RSA or Ed25519, from fp.  On failure *why says
 * what is wrong with it.
 */
int
crypto_key_read(FILE *fp, struct crypto_key **out, const char **why)
{
	EVP_PKEY	*pkey;

	*out = NULL;
	if ((pkey = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL)) ==
	    NULL) {
		ERR_clear_error();
		*why = "not an unencrypted PEM private key";
		return -1;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA &&
	    EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		*why = "neither an RSA nor an Ed25519 key";
		return -1;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->pkey = pkey;
	return 0;
}

enum crypto_keytype
crypto_key_type(const struct crypto_key *k)
{
	return EVP_PKEY_get_id(k->pkey) == EVP_PKEY_ED25519 ?
	    CRYPTO_KEY_ED25519 : CRYPTO_KEY_RSA;
}

int
crypto_key_bits(const struct crypto_key *k)
{
	return EVP_PKEY_get_bits(k->pkey);
}

/*
 * The DKIM signature of data (RFC 6376 3.3, RFC 8463 3): RSASSA-PKCS1-v1_5
 * with SHA-256 over data, or Ed25519 over the SHA-256 digest of data.
 * *sig is on the heap.
 */
int
crypto_key_sign(const struct crypto_key *k, const void *data, size_t len,
    unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[CRYPTO_MAXMD];
	const EVP_MD	*alg = EVP_sha256();
	int		 rc = -1;

	*sig = NULL;
	if (crypto_key_type(k) == CRYPTO_KEY_ED25519) {
		if (crypto_hash(CRYPTO_SHA256, data, len, md) == -1)
			return -1;
		data = md;
		len = crypto_mdsize(CRYPTO_SHA256);
		alg = NULL;	/* pure Ed25519 (RFC 8032) */
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestSignInit(ctx, NULL, alg, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, NULL, siglen, data, len) == 1) {
		*sig = xcalloc(1, *siglen);
		if (EVP_DigestSign(ctx, *sig, siglen, data, len) == 1)
			rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	if (rc == -1) {
		ERR_clear_error();
		free(*sig);
		*sig = NULL;
	}
	return rc;
}

/*
 * The public half as a DKIM key record's p= wants it: base64 of the
 * SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1), of the 32 raw bytes for
 * Ed25519 (RFC 8463 4.2).
 */
char *
crypto_key_public(const struct crypto_key *k)
{
	unsigned char	*der = NULL, raw[32];
	size_t		 rawlen = sizeof(raw);
	char		*s;
	int		 n;

	if (crypto_key_type(k) == CRYPTO_KEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1)
			return NULL;
		return crypto_b64enc(raw, rawlen);
	}
	if ((n = i2d_PUBKEY(k->pkey, &der)) <= 0)
		return NULL;
	s = crypto_b64enc(der, (size_t)n);
	OPENSSL_free(der);
	return s;
}

void
crypto_key_free(struct crypto_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}
