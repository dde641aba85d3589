/*
 * SASL client mechanisms for SMTP AUTH (RFC 4954), apart from the
 * protocol: smtp.c sends "AUTH MECH [initial-response]" and feeds each
 * decoded 334 challenge to sasl_step(); this file only computes the
 * responses.  All crypto is OpenSSL's, through crypto.c.  Every buffer
 * that held a secret or something derived from one is wiped before it is
 * freed.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define SCRAM_NONCE	24		/* random bytes in the client nonce */
#define SCRAM_MAXITER	1000000		/* beyond this a server wastes our CPU */

struct sasl {
	enum auth_mech		 mech;
	const struct account	*a;
	int			 step;
	int			 verified;	/* SCRAM: the server proved itself */
	int			 refused;	/* OAuth2: the token was refused */
	char			*cfirst;	/* SCRAM: client-first-message-bare */
	unsigned char		 sig[CRYPTO_MAXMD]; /* expected ServerSignature */
	size_t			 siglen;
};

static const struct {
	enum auth_mech	 mech;
	const char	*name;
} names[] = {
	{ AUTH_PLAIN, "PLAIN" },
	{ AUTH_LOGIN, "LOGIN" },
	{ AUTH_CRAM_MD5, "CRAM-MD5" },
	{ AUTH_SCRAM_SHA_1, "SCRAM-SHA-1" },
	{ AUTH_SCRAM_SHA_256, "SCRAM-SHA-256" },
	{ AUTH_XOAUTH2, "XOAUTH2" },
	{ AUTH_OAUTHBEARER, "OAUTHBEARER" },
	{ AUTH_EXTERNAL, "EXTERNAL" },
};

/*
 * What "auth on" tries, best first, among what the server offers.
 * EXTERNAL, XOAUTH2 and OAUTHBEARER need other credentials than a
 * password: they are used only when named.
 */
static const enum auth_mech preference[] = {
	AUTH_SCRAM_SHA_256, AUTH_SCRAM_SHA_1, AUTH_PLAIN, AUTH_LOGIN,
	AUTH_CRAM_MD5
};

const char *
sasl_name(enum auth_mech mech)
{
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].mech == mech)
			return names[i].name;
	return "?";
}

/* The mechanism called name (configuration), or AUTH_OFF. */
enum auth_mech
sasl_byname(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(names[i].name, name) == 0)
			return names[i].mech;
	return AUTH_OFF;
}

/* Does the mechanism need a password (or token), not a certificate? */
int
sasl_needs_password(enum auth_mech mech)
{
	return mech != AUTH_EXTERNAL;
}

/*
 * May AUTH with this mechanism lead a pipelined group?  Only when its
 * initial response is all there is to say: never a 334 to answer.
 */
int
sasl_can_lead(enum auth_mech mech)
{
	return mech == AUTH_PLAIN || mech == AUTH_EXTERNAL;
}

/* Is mech among the space-separated mechanisms the server offers? */
static int
offered(const char *list, enum auth_mech mech)
{
	const char	*name = sasl_name(mech), *p = list;
	size_t		 len = strlen(name);

	while (*p != '\0') {
		p += strspn(p, " ");
		if (strncasecmp(p, name, len) == 0 &&
		    (p[len] == ' ' || p[len] == '\0'))
			return 1;
		p += strcspn(p, " ");
	}
	return 0;
}

/*
 * The mechanism to use with a server that offers list; AUTH_OFF when
 * there is none, and then e says why.
 */
enum auth_mech
sasl_choose(const struct account *a, const char *list, struct err *e)
{
	size_t	i;

	if (a->auth != AUTH_ON) {
		if (offered(list, a->auth))
			return a->auth;
		err_set(e, ERR_UNAVAIL, "the server does not offer AUTH %s "
		    "(it offers: %s)", sasl_name(a->auth), list);
		return AUTH_OFF;
	}
	for (i = 0; i < sizeof(preference) / sizeof(preference[0]); i++)
		if (offered(list, preference[i]))
			return preference[i];
	err_set(e, ERR_UNAVAIL, "the server offers no AUTH mechanism "
	    "postern can use (it offers: %s)", list);
	return AUTH_OFF;
}

struct sasl *
sasl_new(enum auth_mech mech, const struct account *a)
{
	struct sasl	*s;

	s = xcalloc(1, sizeof(*s));
	s->mech = mech;
	s->a = a;
	return s;
}

/* Hand over a response built with asprintf; the caller wipes it. */
static int
respond_str(char *text, unsigned char **out, size_t *outlen)
{
	*out = (unsigned char *)text;
	*outlen = strlen(text);
	return 1;
}

static int
respond(const char *text, unsigned char **out, size_t *outlen)
{
	return respond_str(xstrdup(text), out, outlen);
}

/* SCRAM's saslname (RFC 5802 section 5.1): "=" and "," escaped. */
static char *
saslname(const char *user)
{
	char	*out, *o;

	o = out = xcalloc(3, strlen(user) + 1);
	for (; *user != '\0'; user++) {
		if (*user == '=' || *user == ',') {
			memcpy(o, *user == '=' ? "=3D" : "=2C", 3);
			o += 3;
		} else
			*o++ = *user;
	}
	return out;
}

/* SCRAM client-first-message (RFC 5802 section 7), no channel binding. */
static int
scram_first_nonce(struct sasl *s, const char *nonce, unsigned char **out,
    size_t *outlen)
{
	char	*name;

	name = saslname(s->a->user);
	xasprintf(&s->cfirst, "n=%s,r=%s", name, nonce);
	free(name);
	xasprintf((char **)out, "n,,%s", s->cfirst);
	*outlen = strlen((char *)*out);
	return 1;
}

static int
scram_first(struct sasl *s, unsigned char **out, size_t *outlen)
{
	unsigned char	 raw[SCRAM_NONCE];
	char		*nonce;
	int		 rc;

	arc4random_buf(raw, sizeof(raw));
	nonce = crypto_b64enc(raw, sizeof(raw));
	rc = scram_first_nonce(s, nonce, out, outlen);
	free(nonce);
	return rc;
}

/*
 * The initial response (RFC 4954 section 4), if the mechanism has one:
 * returns 1 with *out set, 0 when there is none.
 */
int
sasl_initial(struct sasl *s, unsigned char **out, size_t *outlen,
    struct err *e)
{
	const struct account	*a = s->a;
	size_t			 ul, pl;
	char			*r;

	(void)e;
	*out = NULL;
	*outlen = 0;
	switch (s->mech) {
	case AUTH_PLAIN:
		/* RFC 4616: authzid NUL authcid NUL passwd, authzid empty */
		ul = strlen(a->user);
		pl = strlen(a->password);
		*outlen = ul + pl + 2;
		*out = xcalloc(1, *outlen);
		memcpy(*out + 1, a->user, ul);
		memcpy(*out + 2 + ul, a->password, pl);
		return 1;
	case AUTH_SCRAM_SHA_1:
	case AUTH_SCRAM_SHA_256:
		return scram_first(s, out, outlen);
	case AUTH_XOAUTH2:
		/* Google's and Microsoft's format; the password is a token. */
		xasprintf(&r, "user=%s\001auth=Bearer %s\001\001", a->user,
		    a->password);
		return respond_str(r, out, outlen);
	case AUTH_OAUTHBEARER:
		/* RFC 7628 section 3.1, with the GS2 header of RFC 5801. */
		xasprintf(&r, "n,a=%s,\001auth=Bearer %s\001\001", a->user,
		    a->password);
		return respond_str(r, out, outlen);
	case AUTH_EXTERNAL:
		/* RFC 4422 appendix A: the identity is the certificate's. */
		*out = xcalloc(1, 1);
		return 1;
	default:
		return 0;
	}
}

/* CRAM-MD5 (RFC 2195): "user hex(HMAC-MD5(password, challenge))". */
static int
cram_md5(struct sasl *s, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, struct err *e)
{
	unsigned char	 mac[CRYPTO_MAXMD];
	char		 hex[2 * CRYPTO_MAXMD + 1], *r;
	size_t		 i, n = crypto_mdsize(CRYPTO_MD5);

	if (crypto_hmac(CRYPTO_MD5, s->a->password, strlen(s->a->password),
	    in, inlen, mac) == -1)
		return err_set(e, ERR_SOFTWARE, "CRAM-MD5: HMAC failed");
	for (i = 0; i < n; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	explicit_bzero(mac, sizeof(mac));
	xasprintf(&r, "%s %s", s->a->user, hex);
	explicit_bzero(hex, sizeof(hex));
	return respond_str(r, out, outlen);
}

/* The value of attribute a in a SCRAM message, or NULL. */
static char *
scram_attr(const char *msg, char a)
{
	const char	*p = msg;
	size_t		 len;

	while (*p != '\0') {
		len = strcspn(p, ",");
		if (len >= 2 && p[0] == a && p[1] == '=') {
			char *v = xcalloc(1, len - 1);

			memcpy(v, p + 2, len - 2);
			return v;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return NULL;
}

/*
 * The SCRAM keys of RFC 5802 section 3 for the server-first message sf:
 * the client-final message into *out, the expected ServerSignature into
 * s->sig.
 */
static int
scram_final(struct sasl *s, enum crypto_md md, const char *sf,
    const char *nonce, const unsigned char *salt, size_t saltlen,
    unsigned int iter, unsigned char **out, size_t *outlen, struct err *e)
{
	unsigned char	 salted[CRYPTO_MAXMD], ckey[CRYPTO_MAXMD];
	unsigned char	 stored[CRYPTO_MAXMD], csig[CRYPTO_MAXMD];
	unsigned char	 skey[CRYPTO_MAXMD];
	size_t		 n = crypto_mdsize(md), i;
	char		*without, *authmsg, *proof, *r;
	int		 rc = -1;

	xasprintf(&without, "c=biws,r=%s", nonce);
	xasprintf(&authmsg, "%s,%s,%s", s->cfirst, sf, without);
	if (crypto_pbkdf2(md, s->a->password, strlen(s->a->password), salt,
	    saltlen, iter, salted) == -1 ||
	    crypto_hmac(md, salted, n, "Client Key", 10, ckey) == -1 ||
	    crypto_hash(md, ckey, n, stored) == -1 ||
	    crypto_hmac(md, stored, n, authmsg, strlen(authmsg),
	    csig) == -1 ||
	    crypto_hmac(md, salted, n, "Server Key", 10, skey) == -1 ||
	    crypto_hmac(md, skey, n, authmsg, strlen(authmsg), s->sig) == -1) {
		err_set(e, ERR_SOFTWARE, "%s: key derivation failed",
		    sasl_name(s->mech));
		goto out;
	}
	s->siglen = n;
	for (i = 0; i < n; i++)
		ckey[i] ^= csig[i];		/* ClientProof */
	proof = crypto_b64enc(ckey, n);
	xasprintf(&r, "%s,p=%s", without, proof);
	free(proof);
	rc = respond_str(r, out, outlen);
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(csig, sizeof(csig));
	explicit_bzero(skey, sizeof(skey));
	free(without);
	free(authmsg);
	return rc;
}

/* The server-first message: check it, then answer with the proof. */
static int
scram_server_first(struct sasl *s, const char *sf, unsigned char **out,
    size_t *outlen, struct err *e)
{
	enum crypto_md	 md = s->mech == AUTH_SCRAM_SHA_1 ? CRYPTO_SHA1 :
	    CRYPTO_SHA256;
	char		*nonce, *salt64, *iters, *cnonce;
	unsigned char	*salt = NULL;
	size_t		 saltlen;
	const char	*errstr = NULL;
	long long	 iter = 0;
	int		 rc = -1;

	nonce = scram_attr(sf, 'r');
	salt64 = scram_attr(sf, 's');
	iters = scram_attr(sf, 'i');
	cnonce = scram_attr(s->cfirst, 'r');
	if (iters != NULL)
		iter = strtonum(iters, 1, SCRAM_MAXITER, &errstr);
	if (nonce == NULL || salt64 == NULL || iters == NULL ||
	    errstr != NULL || strncmp(nonce, cnonce, strlen(cnonce)) != 0 ||
	    strlen(nonce) == strlen(cnonce) ||
	    crypto_b64dec(salt64, &salt, &saltlen) == -1)
		err_set(e, ERR_PROTO, "%s: invalid server-first message",
		    sasl_name(s->mech));
	else
		rc = scram_final(s, md, sf, nonce, salt, saltlen,
		    (unsigned int)iter, out, outlen, e);
	free(nonce);
	free(salt64);
	free(iters);
	free(cnonce);
	free(salt);
	return rc;
}

/* The server-final message: the server must know the password too. */
static int
scram_server_final(struct sasl *s, const char *sfin, unsigned char **out,
    size_t *outlen, struct err *e)
{
	char		*v, *err;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	int		 ok;

	if ((err = scram_attr(sfin, 'e')) != NULL) {
		/*
		 * The server refuses (RFC 5802 section 7, server-error):
		 * answer, so that it ends the exchange with its 535.
		 */
		log_debug("%s: the server says: %s", sasl_name(s->mech), err);
		free(err);
		return respond("", out, outlen);
	}
	v = scram_attr(sfin, 'v');
	ok = v != NULL && crypto_b64dec(v, &sig, &siglen) == 0 &&
	    siglen == s->siglen && crypto_equal(sig, s->sig, siglen);
	free(v);
	free(sig);
	if (!ok)
		return err_set(e, ERR_PROTO, "%s: the server's signature is "
		    "wrong: it does not know the password (or is not the "
		    "server it claims to be)", sasl_name(s->mech));
	s->verified = 1;
	return respond("", out, outlen);
}

/* The response to one decoded 334 challenge. */
int
sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, struct err *e)
{
	char	*text;
	int	 rc;

	*out = NULL;
	*outlen = 0;
	switch (s->mech) {
	case AUTH_LOGIN:
		/* Username:, then Password: (draft-murchison-sasl-login) */
		if (s->step >= 2)
			break;
		return respond(s->step++ == 0 ? s->a->user : s->a->password,
		    out, outlen);
	case AUTH_CRAM_MD5:
		if (s->step++ != 0)
			break;
		return cram_md5(s, in, inlen, out, outlen, e);
	case AUTH_SCRAM_SHA_1:
	case AUTH_SCRAM_SHA_256:
		if (s->step > 1 || memchr(in, '\0', inlen) != NULL)
			break;
		text = xcalloc(1, inlen + 1);
		memcpy(text, in, inlen);
		rc = s->step++ == 0 ?
		    scram_server_first(s, text, out, outlen, e) :
		    scram_server_final(s, text, out, outlen, e);
		free(text);
		return rc;
	case AUTH_XOAUTH2:
	case AUTH_OAUTHBEARER:
		/*
		 * A challenge is the server's JSON error; the client answers
		 * with an empty response (XOAUTH2) or ^A (RFC 7628 3.2.3)
		 * and the server then fails the exchange.
		 */
		if (s->step++ != 0)
			break;
		s->refused = oauth2_refused(in, inlen);
		return respond(s->mech == AUTH_XOAUTH2 ? "" : "\001", out,
		    outlen);
	default:
		break;
	}
	return err_set(e, ERR_PROTO, "unexpected AUTH %s challenge",
	    sasl_name(s->mech));
}

/*
 * The server said 235.  SCRAM authenticates the server too: a 235
 * without the server's proof is a failure (RFC 5802 section 9).
 */
int
sasl_done(struct sasl *s, struct err *e)
{
	if ((s->mech == AUTH_SCRAM_SHA_1 || s->mech == AUTH_SCRAM_SHA_256) &&
	    !s->verified)
		return err_set(e, ERR_PROTO, "%s: the server accepted without "
		    "proving that it knows the password", sasl_name(s->mech));
	return 0;
}

/* Did an XOAUTH2 or OAUTHBEARER server say that the token was refused? */
int
sasl_token_refused(const struct sasl *s)
{
	return s->refused;
}

void
sasl_free(struct sasl *s)
{
	if (s->cfirst != NULL)
		freezero(s->cfirst, strlen(s->cfirst));
	freezero(s, sizeof(*s));
}
