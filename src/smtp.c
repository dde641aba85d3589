/*
 * The SMTP client: one delivery of a prepared message to the smarthost,
 * as an explicit sequence of states (OpenSMTPD's smtp_client.c is the
 * model): connect, [implicit TLS], greeting, EHLO (HELO after 500/502),
 * [STARTTLS, EHLO], [AUTH], MAIL/RCPT/DATA, body, ".", QUIT.
 *
 * Round trips are the protocol minimum (DESIGN.md): with PIPELINING,
 * MAIL, every RCPT and DATA go out in one write (RFC 2920), led by AUTH
 * PLAIN with its initial response when there is one (RFC 4954 section 4);
 * QUIT rides with the final "." and its 221 is not awaited.
 *
 * TLS fails closed: configured STARTTLS that is not offered gets QUIT and
 * nothing else; a byte received after the STARTTLS 220 and before the
 * handshake aborts (RFC 3207 section 6, the injection attack); the
 * capabilities learnt before TLS are thrown away.  Credentials only go
 * over TLS and never appear in the transcript.
 *
 * The reply parser (smtp_reply_line) is a pure function.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"

#define SMTP_LINEMAX	4096	/* a reply line longer than this is bad */
#define SMTP_MAXLINES	1000	/* lines in one reply */
#define SMTP_DATA_TIMEOUT 600	/* seconds for the reply to "." */
#define SMTP_FLUSHSZ	(128 * 1024)

struct caps {
	int		 pipelining;
	int		 starttls;
	int		 eightbitmime;
	int		 auth;		/* AUTH offered at all */
	int		 auth_plain;
	int		 auth_login;
	unsigned long	 size;		/* 0: no limit announced */
};

struct session {
	struct conn		 c;
	const struct account	*a;
	const char		*helo;
	struct caps		 caps;
	char			 line[SMTP_LINEMAX + 2];
};

/* --- the reply parser ------------------------------------------------ */

void
smtp_reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * Add one received line (with or without its line end) to reply r.
 * RFC 5321 section 4.2: "xyz-text" continues, "xyz text" or "xyz" ends;
 * every line of a reply carries the same code.
 */
enum reply_status
smtp_reply_line(struct reply *r, const char *line, size_t len)
{
	int	code;
	size_t	tl, have;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    line[0] < '2' || line[0] > '5' || line[1] > '5')
		return REPLY_BAD;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return REPLY_BAD;
	if (memchr(line, '\0', len) != NULL)
		return REPLY_BAD;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return REPLY_BAD;
	if (++r->nlines > SMTP_MAXLINES)
		return REPLY_BAD;
	r->code = code;
	/* Keep the text of every line, joined by one space, truncated. */
	tl = len > 4 ? len - 4 : 0;
	have = strlen(r->text);
	if (have > 0 && tl > 0 && have + 1 < sizeof(r->text))
		r->text[have++] = ' ';
	if (tl > sizeof(r->text) - 1 - have)
		tl = sizeof(r->text) - 1 - have;
	memcpy(r->text + have, line + 4, tl);
	r->text[have + tl] = '\0';
	return len > 3 && line[3] == '-' ? REPLY_MORE : REPLY_DONE;
}

/* --- commands and replies -------------------------------------------- */

/* Queue one command; the transcript shows shown (or the command). */
static int
cmd(struct session *s, const char *shown, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
cmd(struct session *s, const char *shown, struct err *e, const char *fmt, ...)
{
	va_list	 ap;
	char	*buf;
	int	 n, rc;

	va_start(ap, fmt);
	n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n == -1)
		return err_set(e, ERR_OS, "out of memory");
	/* Defence in depth: no CR, LF or NUL ever reaches a command. */
	if (strpbrk(buf, "\r\n") != NULL) {
		freezero(buf, (size_t)n);
		return err_set(e, ERR_DATA, "refusing to send a command with "
		    "a line break in it");
	}
	log_proto("-> ", shown != NULL ? shown : buf, strlen(shown != NULL ?
	    shown : buf));
	rc = net_write(&s->c, buf, (size_t)n, e);
	if (rc == 0)
		rc = net_write(&s->c, "\r\n", 2, e);
	freezero(buf, (size_t)n);
	return rc;
}

static void
parse_cap(struct caps *cp, const char *t)
{
	const char	*p;
	const char	*errstr;
	char		 num[24];

	if (strcasecmp(t, "PIPELINING") == 0)
		cp->pipelining = 1;
	else if (strcasecmp(t, "STARTTLS") == 0)
		cp->starttls = 1;
	else if (strcasecmp(t, "8BITMIME") == 0)
		cp->eightbitmime = 1;
	else if (strncasecmp(t, "SIZE", 4) == 0 && (t[4] == ' ' ||
	    t[4] == '\0')) {
		(void)strlcpy(num, t[4] == ' ' ? t + 5 : "0", sizeof(num));
		cp->size = (unsigned long)strtonum(num, 0, LLONG_MAX, &errstr);
		if (errstr != NULL)
			cp->size = 0;
	} else if (strncasecmp(t, "AUTH", 4) == 0 && (t[4] == ' ' ||
	    t[4] == '=')) {
		cp->auth = 1;
		for (p = t + 5; *p != '\0'; p += strcspn(p, " ")) {
			p += strspn(p, " ");
			if (strncasecmp(p, "PLAIN", 5) == 0 &&
			    (p[5] == ' ' || p[5] == '\0'))
				cp->auth_plain = 1;
			if (strncasecmp(p, "LOGIN", 5) == 0 &&
			    (p[5] == ' ' || p[5] == '\0'))
				cp->auth_login = 1;
		}
	}
}

/*
 * Read one whole reply.  With caps, each line after the first is an
 * EHLO capability (RFC 5321 section 4.1.1.1).
 */
static int
read_reply(struct session *s, struct reply *r, struct caps *caps,
    struct err *e)
{
	enum reply_status	st;
	size_t			len;

	smtp_reply_init(r);
	do {
		if (net_readline(&s->c, s->line, sizeof(s->line), &len,
		    e) == -1)
			return -1;
		log_proto("<- ", s->line, len);
		if (len == 0 || s->line[len - 1] != '\n')
			return err_set(e, ERR_PROTO, "%s: reply line too "
			    "long or unterminated", s->c.peer);
		st = smtp_reply_line(r, s->line, len);
		if (st == REPLY_BAD) {
			char shown[128];

			log_escape(shown, sizeof(shown), s->line, len);
			return err_set(e, ERR_PROTO, "%s: malformed reply: "
			    "%s", s->c.peer, shown);
		}
		if (caps != NULL && r->nlines > 1) {
			s->line[strcspn(s->line, "\r\n")] = '\0';
			parse_cap(caps, s->line + 4);
		}
	} while (st == REPLY_MORE);
	return 0;
}

/* A reply that refuses: 4xx is temporary, 5xx permanent. */
static int
refused(struct session *s, const char *what, const struct reply *r,
    struct err *e)
{
	return err_set(e, r->code >= 500 ? ERR_UNAVAIL : ERR_TEMP,
	    "%s: %s: %d %s", s->c.peer, what, r->code, r->text);
}

/* Send what is queued and read one reply that must be 2xx (or want). */
static int
exchange(struct session *s, const char *what, int want, struct err *e)
{
	struct reply	r;

	if (net_flush(&s->c, e) == -1 || read_reply(s, &r, NULL, e) == -1)
		return -1;
	if (r.code / 100 != want / 100)
		return refused(s, what, &r, e);
	return 0;
}

/* Say goodbye without waiting for the 221. */
static void
quit(struct session *s)
{
	struct err	e;

	if (cmd(s, NULL, &e, "QUIT") == 0)
		(void)net_flush(&s->c, &e);
}

/* --- the steps ------------------------------------------------------- */

static int
ehlo(struct session *s, struct err *e)
{
	struct reply	r;

	memset(&s->caps, 0, sizeof(s->caps));
	if (cmd(s, NULL, e, "EHLO %s", s->helo) == -1 ||
	    net_flush(&s->c, e) == -1 ||
	    read_reply(s, &r, &s->caps, e) == -1)
		return -1;
	if (r.code / 100 == 2)
		return 0;
	if (r.code != 500 && r.code != 502)
		return refused(s, "EHLO", &r, e);
	memset(&s->caps, 0, sizeof(s->caps));
	if (cmd(s, NULL, e, "HELO %s", s->helo) == -1)
		return -1;
	return exchange(s, "HELO", 250, e);
}

static int
starttls(struct session *s, struct err *e)
{
	if (!s->caps.starttls) {
		quit(s);
		return err_set(e, ERR_TLSPOLICY, "%s: the server does not "
		    "offer STARTTLS; nothing was sent in clear", s->c.peer);
	}
	if (cmd(s, NULL, e, "STARTTLS") == -1 ||
	    exchange(s, "STARTTLS", 220, e) == -1)
		return -1;
	if (net_pending(&s->c))
		return err_set(e, ERR_PROTO, "%s: the server sent data after "
		    "its STARTTLS reply, before the TLS handshake (possible "
		    "injection attack); aborted", s->c.peer);
	if (tls_start(&s->c, s->a, e) == -1)
		return -1;
	return ehlo(s, e);
}

/* The mechanism to use, or an error when none can be. */
static enum auth_mech
auth_choose(struct session *s, struct err *e)
{
	const struct account	*a = s->a;

	if (!s->caps.auth) {
		quit(s);
		err_set(e, ERR_UNAVAIL, "%s: authentication is configured "
		    "but the server offers no AUTH", s->c.peer);
		return AUTH_OFF;
	}
	if (a->auth == AUTH_ON) {
		if (s->caps.auth_plain)
			return AUTH_PLAIN;
		if (s->caps.auth_login)
			return AUTH_LOGIN;
	} else if ((a->auth == AUTH_PLAIN && s->caps.auth_plain) ||
	    (a->auth == AUTH_LOGIN && s->caps.auth_login))
		return a->auth;
	quit(s);
	err_set(e, ERR_UNAVAIL, "%s: the server offers none of the "
	    "configured AUTH mechanisms", s->c.peer);
	return AUTH_OFF;
}

static int
auth_refused(struct session *s, const struct reply *r, struct err *e)
{
	return err_set(e, r->code >= 400 && r->code < 500 ? ERR_TEMP :
	    ERR_NOPERM, "%s: authentication failed: %d %s", s->c.peer,
	    r->code, r->text);
}

/* AUTH PLAIN with its initial response (RFC 4616), queued, not sent. */
static int
auth_plain_cmd(struct session *s, struct err *e)
{
	const struct account	*a = s->a;
	size_t			 ul = strlen(a->user), pl = strlen(a->password);
	size_t			 n = ul + pl + 2;
	char			*raw, *b64;
	int			 rc;

	raw = xcalloc(1, n);
	memcpy(raw + 1, a->user, ul);
	memcpy(raw + 2 + ul, a->password, pl);
	b64 = crypto_b64enc(raw, n);
	freezero(raw, n);
	rc = cmd(s, "AUTH PLAIN <redacted>", e, "AUTH PLAIN %s", b64);
	freezero(b64, strlen(b64));
	return rc;
}

/* AUTH LOGIN: two 334 challenges, user then password. */
static int
auth_login(struct session *s, struct err *e)
{
	struct reply	 r;
	const char	*secret[2];
	char		*b64;
	int		 i, rc;

	secret[0] = s->a->user;
	secret[1] = s->a->password;
	if (cmd(s, NULL, e, "AUTH LOGIN") == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		if (net_flush(&s->c, e) == -1 ||
		    read_reply(s, &r, NULL, e) == -1)
			return -1;
		if (r.code != 334)
			return auth_refused(s, &r, e);
		b64 = crypto_b64enc(secret[i], strlen(secret[i]));
		rc = cmd(s, "<redacted>", e, "%s", b64);
		freezero(b64, strlen(b64));
		if (rc == -1)
			return -1;
	}
	if (net_flush(&s->c, e) == -1 || read_reply(s, &r, NULL, e) == -1)
		return -1;
	return r.code == 235 ? 0 : auth_refused(s, &r, e);
}

/*
 * Queue command i of the transaction: MAIL, then every RCPT, then DATA.
 */
static int
envelope_cmd(struct session *s, const struct envelope *env,
    const struct msg *m, size_t i, struct err *e)
{
	char	size[32] = "";

	if (i == 0) {
		if (s->caps.size)
			(void)snprintf(size, sizeof(size), " SIZE=%lld",
			    (long long)m->size);
		return cmd(s, NULL, e, "MAIL FROM:<%s>%s%s", env->from, size,
		    m->eightbit && s->caps.eightbitmime ?
		    " BODY=8BITMIME" : "");
	}
	if (i <= env->nrcpt)
		return cmd(s, NULL, e, "RCPT TO:<%s>", env->rcpts[i - 1].addr);
	return cmd(s, NULL, e, "DATA");
}

/* Record the reply to RCPT k (1-based); returns 1 when accepted. */
static int
rcpt_reply(struct envelope *env, size_t k, const struct reply *r)
{
	struct rcpt	*rc = &env->rcpts[k - 1];

	rc->reply = *r;
	if (r->code / 100 == 2)
		rc->state = RCPT_OK;
	else
		rc->state = r->code >= 500 ? RCPT_PERMFAIL : RCPT_TEMPFAIL;
	return rc->state == RCPT_OK;
}

static int
no_recipient(struct session *s, const struct envelope *env, struct err *e)
{
	size_t	i;

	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state == RCPT_TEMPFAIL)
			return err_set(e, ERR_TEMP, "%s: no recipient was "
			    "accepted", s->c.peer);
	return err_set(e, ERR_NOUSER, "%s: no recipient was accepted",
	    s->c.peer);
}

/*
 * Read the replies to commands first..last of a sent group and record
 * them.  Returns the reply to the last one in *r.  Replies to RCPT are
 * a verdict on the recipient only when MAIL was accepted (and, when
 * AUTH led the group, AUTH too: ok is then NULL).
 */
static int
group_replies(struct session *s, struct envelope *env, size_t first,
    size_t last, struct reply *mail, struct reply *r, size_t *ok,
    struct err *e)
{
	size_t	k;

	for (k = first; k <= last; k++) {
		if (read_reply(s, r, NULL, e) == -1)
			return -1;
		if (k == 0)
			*mail = *r;
		else if (k <= env->nrcpt && ok != NULL &&
		    mail->code / 100 == 2)
			*ok += rcpt_reply(env, k, r);
	}
	return 0;
}

/*
 * End a session whose transaction failed.  After a 354 a QUIT would be
 * data: then the connection is just closed, and the server drops the
 * half-open transaction.
 */
static void
abandon(struct session *s, const struct reply *last)
{
	if (last->code != 354)
		quit(s);
}

/*
 * The transaction up to the 354: MAIL, RCPT..., DATA.  With PIPELINING
 * they go out in one write, led by AUTH PLAIN when plain_led, and every
 * reply of the group is read before anything else is sent (RFC 2920
 * section 3.1), so the session ends cleanly whatever failed.  Without it,
 * each command waits for its reply and nothing is sent in vain.
 * Returns 0 when the body may go; every recipient's state is set.
 */
static int
transaction(struct session *s, struct envelope *env, const struct msg *m,
    int plain_led, struct err *e)
{
	struct reply	 mail, r, auth;
	size_t		 i, n = env->nrcpt + 2, ok = 0;
	int		 pipe = s->caps.pipelining;

	smtp_reply_init(&mail);
	smtp_reply_init(&r);
	for (i = 0; i < n; i++) {
		if (envelope_cmd(s, env, m, i, e) == -1)
			return -1;
		if (pipe && i + 1 < n)
			continue;
		if (net_flush(&s->c, e) == -1)
			return -1;
		if (plain_led) {
			if (read_reply(s, &auth, NULL, e) == -1)
				return -1;
			if (auth.code != 235) {
				/* Never send the body, even after a 354. */
				if (group_replies(s, env, 0, n - 1, &mail, &r,
				    NULL, e) == 0)
					abandon(s, &r);
				return auth_refused(s, &auth, e);
			}
		}
		if (group_replies(s, env, pipe ? 0 : i, i, &mail, &r, &ok,
		    e) == -1)
			return -1;
		if (i == 0 && mail.code / 100 != 2)
			break;
		if (!pipe && i == env->nrcpt && ok == 0)
			break;
	}
	if (mail.code / 100 != 2) {
		abandon(s, &r);
		return refused(s, "MAIL FROM", &mail, e);
	}
	if (ok == 0) {
		abandon(s, &r);
		return no_recipient(s, env, e);
	}
	if (r.code == 354)
		return 0;
	quit(s);
	return refused(s, "DATA", &r, e);
}

/* Stream the prepared message, dot-stuffed (RFC 5321 section 4.5.2). */
static int
send_body(struct session *s, const struct msg *m, struct err *e)
{
	char	 buf[65536];
	ssize_t	 n;
	int	 bol = 1;
	off_t	 off = 0;

	log_debug("sending the message: %lld bytes", (long long)m->size);
	while ((n = pread(m->fd, buf, sizeof(buf), off)) != 0) {
		char *p = buf, *end, *nl;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_IO, "reading the message: %s",
			    strerror(errno));
		off += n;
		end = buf + n;
		while (p < end) {
			if (bol && *p == '.' &&
			    net_write(&s->c, ".", 1, e) == -1)
				return -1;
			nl = memchr(p, '\n', (size_t)(end - p));
			nl = nl != NULL ? nl + 1 : end;
			if (net_write(&s->c, p, (size_t)(nl - p), e) == -1)
				return -1;
			bol = nl[-1] == '\n';
			p = nl;
		}
		if (s->c.wlen >= SMTP_FLUSHSZ && net_flush(&s->c, e) == -1)
			return -1;
	}
	return 0;
}

/*
 * Authenticate, or for AUTH PLAIN with PIPELINING only queue the command:
 * it then leads the transaction's group (*led is set).
 */
static int
authenticate(struct session *s, int *led, struct err *e)
{
	enum auth_mech	mech;
	struct reply	r;

	*led = 0;
	if (s->a->auth == AUTH_OFF)
		return 0;
	if ((mech = auth_choose(s, e)) == AUTH_OFF)
		return -1;
	if (mech == AUTH_LOGIN)
		return auth_login(s, e);
	if (auth_plain_cmd(s, e) == -1)
		return -1;
	if (s->caps.pipelining) {
		*led = 1;
		return 0;
	}
	if (net_flush(&s->c, e) == -1 || read_reply(s, &r, NULL, e) == -1)
		return -1;
	return r.code == 235 ? 0 : auth_refused(s, &r, e);
}

static int
deliver(struct session *s, struct envelope *env, const struct msg *m,
    struct err *e)
{
	struct reply	r;
	int		led;

	if (authenticate(s, &led, e) == -1)
		return -1;
	if (s->caps.size && (unsigned long long)m->size > s->caps.size) {
		quit(s);
		return err_set(e, ERR_UNAVAIL, "%s: the message (%lld bytes) "
		    "exceeds the server's size limit of %lu bytes", s->c.peer,
		    (long long)m->size, s->caps.size);
	}
	if (transaction(s, env, m, led, e) == -1)
		return -1;
	if (send_body(s, m, e) == -1 || cmd(s, NULL, e, ".") == -1)
		return -1;
	/* Nothing else is due: QUIT rides with the end of data. */
	if (s->caps.pipelining && cmd(s, NULL, e, "QUIT") == -1)
		return -1;
	if (s->c.timeout > 0 && s->c.timeout < SMTP_DATA_TIMEOUT * 1000)
		s->c.timeout = SMTP_DATA_TIMEOUT * 1000;
	if (net_flush(&s->c, e) == -1 || read_reply(s, &r, NULL, e) == -1)
		return -1;
	if (r.code / 100 != 2)
		return refused(s, "end of data", &r, e);
	if (!s->caps.pipelining)
		quit(s);
	return 0;
}

/*
 * Deliver m to every recipient of env through account a, saying helo in
 * EHLO.  On return each recipient's state says what became of it; the
 * error, if any, is what went wrong with the session as a whole.
 */
int
smtp_send(const struct account *a, struct envelope *env, const struct msg *m,
    const char *helo, struct err *e)
{
	struct session	*s;
	struct reply	 r;
	int		 rc = -1;

	if (a->auth != AUTH_OFF && !a->tls)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': auth "
		    "without tls would send the password in clear",
		    a->file, a->line, a->name);
	if (a->auth != AUTH_OFF && (a->user == NULL || a->password == NULL))
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': auth "
		    "needs user and password", a->file, a->line, a->name);
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->helo = helo;
	if (net_connect(&s->c, a->host, conf_port(a), a->timeout, e) == -1)
		goto out;
	if (a->tls && !a->starttls && tls_start(&s->c, a, e) == -1)
		goto out;
	if (read_reply(s, &r, NULL, e) == -1)
		goto out;
	if (r.code != 220) {
		quit(s);
		refused(s, "greeting", &r, e);
		goto out;
	}
	if (ehlo(s, e) == -1)
		goto out;
	if (a->tls && a->starttls && starttls(s, e) == -1)
		goto out;
	rc = deliver(s, env, m, e);
out:
	net_close(&s->c);
	explicit_bzero(s, sizeof(*s));
	free(s);
	return rc;
}
