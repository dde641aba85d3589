/*
 * SASL client mechanisms for SMTP AUTH (RFC 4954), apart from the
 * protocol: smtp.c sends "AUTH MECH [initial-response]" and feeds each
 * decoded 334 challenge to sasl_step(); this file only computes the
 * responses.  Every buffer that held a secret is wiped before it is freed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

struct sasl {
	enum auth_mech		 mech;
	const struct account	*a;
	int			 step;
};

static const struct {
	enum auth_mech	 mech;
	const char	*name;
} names[] = {
	{ AUTH_PLAIN, "PLAIN" },
	{ AUTH_LOGIN, "LOGIN" },
};

/* What "auth on" tries, best first, among what the server offers. */
static const enum auth_mech preference[] = { AUTH_PLAIN, AUTH_LOGIN };

const char *
sasl_name(enum auth_mech mech)
{
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].mech == mech)
			return names[i].name;
	return "?";
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

/* A copy of a secret as a response; the caller wipes and frees it. */
static int
respond(const char *text, unsigned char **out, size_t *outlen)
{
	*outlen = strlen(text);
	*out = xcalloc(1, *outlen + 1);
	memcpy(*out, text, *outlen);
	return 1;
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
	default:
		return 0;
	}
}

/* The response to one decoded 334 challenge. */
int
sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, struct err *e)
{
	(void)in;
	(void)inlen;
	*out = NULL;
	*outlen = 0;
	switch (s->mech) {
	case AUTH_LOGIN:
		/* Username:, then Password: (draft-murchison-sasl-login) */
		if (s->step >= 2)
			break;
		return respond(s->step++ == 0 ? s->a->user : s->a->password,
		    out, outlen);
	default:
		break;
	}
	return err_set(e, ERR_PROTO, "unexpected AUTH %s challenge",
	    sasl_name(s->mech));
}

/*
 * The server said 235.  A mechanism that authenticates the server too
 * fails here when the server never proved itself.
 */
int
sasl_done(struct sasl *s, struct err *e)
{
	(void)s;
	(void)e;
	return 0;
}

void
sasl_free(struct sasl *s)
{
	freezero(s, sizeof(*s));
}
