/*
 * Unit tests for the OpenSSL wrappers: the base64 test vectors of
 * RFC 4648 section 10, and strict refusal of what is not base64.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

static const struct {
	const char	*plain;
	const char	*b64;
} vec[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static const char *bad[] = {
	"Zg=", "Zm9v\n", "Zm 9v", "Z===", "Zg==Zg==", "Zm9v!A==", "=Zg=",
};

int
main(void)
{
	size_t		 i, len;
	char		*enc;
	unsigned char	*dec;

	for (i = 0; i < NELEM(vec); i++) {
		enc = crypto_b64enc(vec[i].plain, strlen(vec[i].plain));
		CHECK_STR(enc, vec[i].b64, vec[i].plain);
		free(enc);
		CHECK(crypto_b64dec(vec[i].b64, &dec, &len) == 0 &&
		    len == strlen(vec[i].plain) &&
		    memcmp(dec, vec[i].plain, len) == 0, "decode %s",
		    vec[i].b64);
		free(dec);
	}
	/* The SASL PLAIN response carries NUL bytes. */
	enc = crypto_b64enc("\0u\0p", 4);
	CHECK_STR(enc, "AHUAcA==", "PLAIN");
	free(enc);
	for (i = 0; i < NELEM(bad); i++) {
		CHECK(crypto_b64dec(bad[i], &dec, &len) == -1,
		    "accepted bad base64 \"%s\"", bad[i]);
		free(dec);
	}
	return t_done("t_crypto");
}
