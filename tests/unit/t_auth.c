/*
 * Unit tests for the SASL mechanisms: the published examples of RFC 2195
 * (CRAM-MD5), RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256), a
 * server signature that is wrong, and the mechanism choice.  auth.c is
 * included so that SCRAM can be given the RFC's client nonce.
 */
#include "src/auth.c"

#include "t.h"

static struct account acct;

/* Point a credential at a string constant (the account is not freed). */
static void
setcred(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static char *
text(unsigned char *p, size_t n)
{
	char	*s = xcalloc(1, n + 1);

	memcpy(s, p, n);
	free(p);
	return s;
}

struct scram_vec {
	enum auth_mech	 mech;
	const char	*cnonce, *cfirst, *sfirst, *cfinal, *sfinal;
};

static const struct scram_vec vecs[] = {
	{ AUTH_SCRAM_SHA_1, "fyko+d2lbbFgONRv9qkxdawL",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
	  "i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
	{ AUTH_SCRAM_SHA_256, "rOprNGfwEbeRWgbNEkqO",
	  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
};

/* Run one SCRAM exchange; bad: corrupt the server signature. */
static void
scram(const struct scram_vec *v, int bad)
{
	struct sasl	*s;
	struct err	 e;
	unsigned char	*out;
	size_t		 n;
	char		*got, sfinal[128];

	s = sasl_new(v->mech, &acct);
	scram_first_nonce(s, v->cnonce, &out, &n);
	got = text(out, n);
	CHECK_STR(got, v->cfirst, "client-first");
	free(got);
	CHECK(sasl_step(s, (const unsigned char *)v->sfirst,
	    strlen(v->sfirst), &out, &n, &e) == 1, "server-first: %s", e.msg);
	got = text(out, n);
	CHECK_STR(got, v->cfinal, "client-final");
	free(got);
	CHECK(sasl_done(s, &e) == -1, "235 before the server's proof");
	(void)strlcpy(sfinal, v->sfinal, sizeof(sfinal));
	if (bad)
		sfinal[2] = sfinal[2] == 'A' ? 'B' : 'A';
	if (bad) {
		CHECK(sasl_step(s, (unsigned char *)sfinal, strlen(sfinal),
		    &out, &n, &e) == -1 && e.cls == ERR_PROTO,
		    "wrong server signature accepted");
		CHECK(sasl_done(s, &e) == -1, "done after a wrong signature");
	} else {
		CHECK(sasl_step(s, (unsigned char *)sfinal, strlen(sfinal),
		    &out, &n, &e) == 1 && n == 0, "server-final: %s", e.msg);
		free(out);
		CHECK(sasl_done(s, &e) == 0, "done: %s", e.msg);
	}
	sasl_free(s);
}

static void
test_scram(void)
{
	struct sasl	*s;
	struct err	 e;
	unsigned char	*out;
	char		*got;
	size_t		 i, n;
	static const char *bad_first[] = {
		"r=othernonce,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0",
		"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=99999999",
		"r=fyko+d2lbbFgONRv9qkxdawLx,s=not base64!,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawLx,i=4096",
	};

	setcred(&acct.user, "user");
	setcred(&acct.password, "pencil");
	for (i = 0; i < NELEM(vecs); i++) {
		scram(&vecs[i], 0);
		scram(&vecs[i], 1);
	}
	for (i = 0; i < NELEM(bad_first); i++) {
		s = sasl_new(AUTH_SCRAM_SHA_1, &acct);
		scram_first_nonce(s, "fyko+d2lbbFgONRv9qkxdawL", &out, &n);
		free(out);
		CHECK(sasl_step(s, (const unsigned char *)bad_first[i],
		    strlen(bad_first[i]), &out, &n, &e) == -1,
		    "accepted server-first %s", bad_first[i]);
		sasl_free(s);
	}
	/* An e= attribute is the server refusing. */
	s = sasl_new(AUTH_SCRAM_SHA_256, &acct);
	scram_first_nonce(s, vecs[1].cnonce, &out, &n);
	free(out);
	(void)sasl_step(s, (const unsigned char *)vecs[1].sfirst,
	    strlen(vecs[1].sfirst), &out, &n, &e);
	free(out);
	CHECK(sasl_step(s, (const unsigned char *)"e=invalid-proof", 15, &out,
	    &n, &e) == 1 && n == 0, "e= gets an empty answer");
	free(out);
	CHECK(sasl_done(s, &e) == -1, "a 235 after e= is accepted");
	sasl_free(s);
	/* saslname escapes = and , (RFC 5802 section 5.1). */
	setcred(&acct.user, "a=b,c");
	s = sasl_new(AUTH_SCRAM_SHA_1, &acct);
	scram_first_nonce(s, "N", &out, &n);
	got = text(out, n);
	CHECK_STR(got, "n,,n=a=3Db=2Cc,r=N", "saslname");
	free(got);
	sasl_free(s);
}

static void
test_simple(void)
{
	static const char	 chal[] =
	    "<1896.697170952@postoffice.reston.mci.net>";
	struct sasl		*s;
	struct err		 e;
	unsigned char		*out;
	size_t			 n;
	char			*got;

	/* RFC 2195 section 2 */
	setcred(&acct.user, "tim");
	setcred(&acct.password, "tanstaaftanstaaf");
	s = sasl_new(AUTH_CRAM_MD5, &acct);
	CHECK(sasl_initial(s, &out, &n, &e) == 0, "CRAM-MD5 initial");
	CHECK(sasl_step(s, (const unsigned char *)chal, strlen(chal), &out,
	    &n, &e) == 1, "CRAM-MD5 step");
	got = text(out, n);
	CHECK_STR(got, "tim b913a602c7eda7a495b4e6e7334d3890", "CRAM-MD5");
	free(got);
	sasl_free(s);

	setcred(&acct.user, "u");
	setcred(&acct.password, "p");
	s = sasl_new(AUTH_PLAIN, &acct);
	CHECK(sasl_initial(s, &out, &n, &e) == 1 && n == 4 &&
	    memcmp(out, "\0u\0p", 4) == 0, "PLAIN");
	free(out);
	sasl_free(s);

	setcred(&acct.user, "me@example.com");
	setcred(&acct.password, "tok");
	s = sasl_new(AUTH_XOAUTH2, &acct);
	CHECK(sasl_initial(s, &out, &n, &e) == 1, "XOAUTH2");
	got = text(out, n);
	CHECK_STR(got, "user=me@example.com\001auth=Bearer tok\001\001",
	    "XOAUTH2");
	free(got);
	sasl_free(s);
	s = sasl_new(AUTH_OAUTHBEARER, &acct);
	CHECK(sasl_initial(s, &out, &n, &e) == 1, "OAUTHBEARER");
	got = text(out, n);
	CHECK_STR(got, "n,a=me@example.com,\001auth=Bearer tok\001\001",
	    "OAUTHBEARER");
	free(got);
	/* A JSON error challenge gets ^A, then nothing more. */
	CHECK(sasl_step(s, (const unsigned char *)"{}", 2, &out, &n,
	    &e) == 1 && n == 1 && out[0] == 1, "OAUTHBEARER error reply");
	free(out);
	CHECK(sasl_step(s, (const unsigned char *)"{}", 2, &out, &n,
	    &e) == -1, "OAUTHBEARER second challenge");
	sasl_free(s);
}

static void
test_choose(void)
{
	struct err	e;

	acct.auth = AUTH_ON;
	CHECK(sasl_choose(&acct, "LOGIN PLAIN CRAM-MD5", &e) == AUTH_PLAIN,
	    "on: PLAIN before LOGIN");
	CHECK(sasl_choose(&acct, "PLAIN SCRAM-SHA-1 SCRAM-SHA-256", &e) ==
	    AUTH_SCRAM_SHA_256, "on: SCRAM-SHA-256 first");
	CHECK(sasl_choose(&acct, "CRAM-MD5", &e) == AUTH_CRAM_MD5,
	    "on: CRAM-MD5 last");
	CHECK(sasl_choose(&acct, "XOAUTH2 EXTERNAL", &e) == AUTH_OFF,
	    "on never picks XOAUTH2 or EXTERNAL");
	CHECK_STR(e.msg, "the server offers no AUTH mechanism postern can use "
	    "(it offers: XOAUTH2 EXTERNAL)", "none usable");
	acct.auth = AUTH_XOAUTH2;
	CHECK(sasl_choose(&acct, "PLAIN xoauth2", &e) == AUTH_XOAUTH2,
	    "named, case-insensitive");
	CHECK(sasl_choose(&acct, "PLAIN XOAUTH", &e) == AUTH_OFF,
	    "a prefix is not the mechanism");
	CHECK(sasl_byname("scram-sha-256") == AUTH_SCRAM_SHA_256, "byname");
	CHECK(sasl_byname("NTLM") == AUTH_OFF, "byname NTLM");
}

int
main(void)
{
	test_simple();
	test_scram();
	test_choose();
	return t_done("t_auth");
}
