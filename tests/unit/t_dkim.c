/*
 * Unit tests for DKIM signing: the canonicalization examples of RFC 6376
 * section 3.4.5, the Ed25519 test vector of RFC 8463 appendix A (the
 * RFC 8032 test key, committed as tests/dkim/rfc8463-brisbane.pem), the
 * field selection of RFC 6376 5.4.2, and the folding of the field.
 * Run from the top of the source tree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "t.h"

#define KEYFILE	"tests/dkim/rfc8463-brisbane.pem"

/* RFC 8463 appendix A (RFC 6376 appendix A's message). */
static const char rfc_hdr[] =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n";
static const char rfc_body[] =
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
static const char rfc_bh[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
static const char rfc_sig[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=";
static const char rfc_b[] =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus"
    "Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

/* The body hash of n bytes at p, fed in pieces of step bytes. */
static char *
bodyhash(const char *p, size_t n, size_t step)
{
	struct dkim_body	 b;
	unsigned char		 md[CRYPTO_MAXMD];
	size_t			 i, k;

	dkim_body_init(&b);
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		dkim_body_update(&b, p + i, k);
	}
	if (dkim_body_final(&b, md) == -1)
		return xstrdup("(failed)");
	return crypto_b64enc(md, 32);
}

/* The base64 SHA-256 of a string. */
static char *
sha(const char *s)
{
	unsigned char	md[CRYPTO_MAXMD];

	(void)crypto_hash(CRYPTO_SHA256, s, strlen(s), md);
	return crypto_b64enc(md, 32);
}

static void
check_body(const char *in, const char *canon)
{
	char	*want = sha(canon), *got;
	size_t	 steps[] = { 1, 2, 3, 7, 8192 }, i;

	for (i = 0; i < NELEM(steps); i++) {
		got = bodyhash(in, strlen(in), steps[i]);
		CHECK(strcmp(got, want) == 0, "body \"%s\" in pieces of %zu: "
		    "got %s, want the hash of \"%s\"", in, steps[i], got,
		    canon);
		free(got);
	}
	free(want);
}

static void
check_header(const char *in, const char *canon)
{
	struct strbuf	s = { NULL, 0, 0 };

	util_stradd(&s, "", 0);
	dkim_canon_header(in, strlen(in), &s);
	CHECK_STR(s.s, canon, in);
	free(s.s);
}

static struct crypto_key *
load_key(void)
{
	struct crypto_key	*k = NULL;
	const char		*why = NULL;
	FILE			*fp;

	if ((fp = fopen(KEYFILE, "r")) == NULL) {
		CHECK(0, "%s: cannot open (run from the top directory)",
		    KEYFILE);
		return NULL;
	}
	CHECK(crypto_key_read(fp, &k, &why) == 0, "%s: %s", KEYFILE, why);
	fclose(fp);
	return k;
}

/* RFC 8463 appendix A: the Ed25519 signature, byte for byte. */
static void
check_rfc8463(struct crypto_key *k)
{
	const char	*names[] = { "from", "to", "subject", "date",
	    "message-id", "from", "subject", "date" };
	struct strbuf	 data = { NULL, 0, 0 };
	unsigned char	*sig;
	size_t		 siglen;
	char		*b64, *pub;

	b64 = bodyhash(rfc_body, strlen(rfc_body), 5);
	CHECK_STR(b64, rfc_bh, "RFC 8463 body hash");
	free(b64);
	util_stradd(&data, "", 0);
	dkim_select(rfc_hdr, strlen(rfc_hdr), names, NELEM(names), &data);
	dkim_canon_header(rfc_sig, strlen(rfc_sig), &data);
	CHECK(crypto_key_sign(k, data.s, data.len, &sig, &siglen) == 0 &&
	    siglen == 64, "Ed25519 signing failed");
	b64 = crypto_b64enc(sig, siglen);
	CHECK_STR(b64, rfc_b, "RFC 8463 b=");
	free(b64);
	free(sig);
	free(data.s);
	pub = crypto_key_public(k);
	CHECK_STR(pub, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	    "RFC 8463 public key p=");
	free(pub);
	CHECK(crypto_key_type(k) == CRYPTO_KEY_ED25519, "key type");
}

/* RFC 6376 5.4.2: a repeated name takes the next instance up. */
static void
check_select(void)
{
	static const char h[] =
	    "Received: one\r\n"
	    "X-A: first\r\n"
	    "Received: two\r\n"
	    " folded\r\n"
	    "x-a:  last  \r\n"
	    "\r\n"
	    "X-A: body, not a field\r\n";
	const char	*names[] = { "x-a", "received", "X-A", "x-a",
	    "missing", "received" };
	struct strbuf	s = { NULL, 0, 0 };

	util_stradd(&s, "", 0);
	dkim_select(h, strlen(h), names, NELEM(names), &s);
	CHECK_STR(s.s, "x-a:last\r\nreceived:two folded\r\nx-a:first\r\n"
	    "received:one\r\n", "selection");
	free(s.s);
}

/*
 * The whole signer on the RFC message: the body hash, h= with From
 * over-signed, lines under 78 columns, and the same field whatever the
 * pieces the message comes in.
 */
static void
check_sign(struct crypto_key *k)
{
	struct account	 a;
	struct dkimkey	 dk;
	char		 h0[] = "from", h1[] = "to", h2[] = "subject",
			 h3[] = "x-absent", sel[] = "brisbane",
			 file[] = KEYFILE, dom[] = "football.example.com";
	char		*h[] = { h0, h1, h2, h3 };
	char		*out[3] = { NULL, NULL, NULL }, *p, *nl;
	size_t		 len, steps[] = { 1, 13, 65536 }, i, j, col;
	struct err	 e;
	char		 msg[1024], flat[1024];

	memset(&a, 0, sizeof(a));
	dk.selector = sel;
	dk.file = file;
	dk.key = k;
	a.dkim = &dk;
	a.ndkim = 1;
	a.dkim_domain = dom;
	a.dkim_h = h;
	a.ndkim_h = NELEM(h);
	(void)snprintf(msg, sizeof(msg), "%s%s", rfc_hdr, rfc_body);
	for (i = 0; i < NELEM(steps); i++) {
		struct dkim *d = dkim_new(&a, 1528637909);

		for (j = 0; j < strlen(msg); j += steps[i])
			dkim_update(d, msg + j, strlen(msg) - j < steps[i] ?
			    strlen(msg) - j : steps[i]);
		out[i] = dkim_final(d, &len, &e);
		CHECK(out[i] != NULL && len == strlen(out[i]),
		    "dkim_final failed: %s", e.msg);
		if (out[i] == NULL)
			return;
	}
	CHECK_STR(out[1], out[0], "pieces of 13 against pieces of 1");
	CHECK_STR(out[2], out[0], "whole against pieces of 1");
	p = out[0];
	CHECK(strncmp(p, "DKIM-Signature: v=1; a=ed25519-sha256; "
	    "c=relaxed/relaxed;\r\n", 58) == 0, "first line: %.60s", p);
	/* The tags, without the folding and the spaces. */
	for (i = 0, j = 0; p[i] != '\0'; i++)
		if (strchr(" \t\r\n", p[i]) == NULL)
			flat[j++] = p[i];
	flat[j] = '\0';
	CHECK(strstr(flat, ";d=football.example.com;s=brisbane;t=1528637909;"
	    "h=from:from:to:subject;bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJV"
	    "Ozv8=;b=") != NULL && strstr(flat, "l=") == NULL, "tags: %s",
	    flat);
	for (; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2) {
		col = (size_t)(nl - p) + (*p == '\t' ? 7 : 0);
		CHECK(col < 78, "line of %zu columns: %.*s", col,
		    (int)(nl - p), p);
		CHECK(p == out[0] || *p == '\t', "continuation without tab");
	}
	CHECK(*p == '\0', "the field does not end in CRLF");
	for (i = 0; i < NELEM(out); i++)
		free(out[i]);
}

int
main(void)
{
	struct crypto_key	*k;

	/* RFC 6376 3.4.5, the two examples. */
	check_header("A: X", "a:X");
	check_header("B : Y\t\r\n\tZ  ", "b:Y Z");
	check_body(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	/* RFC 6376 3.4.3 and 3.4.4, with the empty body of erratum 3133. */
	check_body("", "");
	check_body("\r\n\r\n\r\n", "");
	check_body("  \r\n\t\r\n", "");
	check_body("abc", "abc\r\n");
	check_body("a\r\n \t \r\nb\r\n", "a\r\n\r\nb\r\n");
	check_body("\t lead\r\n", " lead\r\n");
	check_header("Subject:", "subject:");
	check_header("SUBJECT \t:\t no\r\n\t   end \t", "subject:no end");
	check_select();
	if ((k = load_key()) != NULL) {
		check_rfc8463(k);
		check_sign(k);
		crypto_key_free(k);
	}
	return t_done("t_dkim");
}
