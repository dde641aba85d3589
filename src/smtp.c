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
#include <stdint.h>
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
#define SMTP_GROUP	100	/* commands in one pipelined group: their
				   replies (100 x 512 octets at most, RFC
				   5321 4.5.3.1.5) fit in socket buffers */

struct caps {
	int		 pipelining;
	int		 starttls;
	int		 eightbitmime;
	int		 smtputf8;
	int		 dsn;
	int		 chunking;
	int		 auth;		/* AUTH offered at all */
	char		 mechs[256];	/* the mechanisms, space-separated */
	unsigned long	 size;		/* 0: no limit announced */
	char		 text[2048];	/* the EHLO reply, for --check */
};

struct session {
	struct conn		 c;
	const struct account	*a;
	char			*host;		/* the one connected to (owned) */
	const char		*helo;
	struct caps		 caps;
	int			 quit_sent;
	int			 broken;	/* not usable for another message */
	int			 authed;	/* AUTH done on this connection */
	int			 more;		/* another message follows */
	int			 used;		/* a transaction was tried */
	int			 refusal;	/* the failure was a clean reply */
	int			 dirty;		/* the last transaction failed */
	int			 body_sent;	/* the message went out, in part */
	int			 retryable;	/* see smtp_retryable() */
	int			 token_refused;	/* OAuth2: AUTH refused the token */
	FILE			*report;	/* --check writes here */
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
	/*
	 * Keep the text of every line, joined by one space, truncated, with
	 * what is not printable escaped: it ends up in error messages.
	 */
	tl = len > 4 ? len - 4 : 0;
	have = strlen(r->text);
	if (have > 0 && tl > 0 && have + 1 < sizeof(r->text))
		r->text[have++] = ' ';
	log_escape(r->text + have, sizeof(r->text) - have, line + 4, tl);
	return len > 3 && line[3] == '-' ? REPLY_MORE : REPLY_DONE;
}

/* --- commands and replies -------------------------------------------- */

/*
 * Before anything is sent, every byte received must have been read as
 * the reply to a command: a server replies only to commands (RFC 5321
 * section 4.2, in order: RFC 2920 section 3.1), and a byte left over
 * would be taken as the reply to the next command, and every reply
 * after it misattributed.  So bytes after the greeting, or more replies
 * than commands, end the session.
 */
static int
unsolicited(struct session *s, struct err *e)
{
	char	 shown[128];
	char	*p = s->c.rbuf + s->c.rpos, *nl;
	size_t	 n = s->c.rlen - s->c.rpos;

	if (n == 0)
		return 0;
	s->broken = 1;
	if ((nl = memchr(p, '\n', n)) != NULL)
		n = (size_t)(nl - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	log_escape(shown, sizeof(shown), p, n);
	return err_set(e, ERR_PROTO, "%s: the server sent what no command "
	    "asked for: %s", s->c.peer, shown);
}

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

	if (unsolicited(s, e) == -1)
		return -1;
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
parse_cap(struct caps *cp, const char *raw)
{
	const char	*errstr, *t;
	char		 num[24], esc[SMTP_LINEMAX];

	/* --check and the AUTH choice print it: no terminal escapes. */
	log_escape(esc, sizeof(esc), raw, strlen(raw));
	t = esc;

	(void)strlcat(cp->text, t, sizeof(cp->text));
	(void)strlcat(cp->text, "\n", sizeof(cp->text));
	if (strcasecmp(t, "PIPELINING") == 0)
		cp->pipelining = 1;
	else if (strcasecmp(t, "STARTTLS") == 0)
		cp->starttls = 1;
	else if (strcasecmp(t, "8BITMIME") == 0)
		cp->eightbitmime = 1;
	else if (strcasecmp(t, "SMTPUTF8") == 0)
		cp->smtputf8 = 1;
	else if (strcasecmp(t, "DSN") == 0)
		cp->dsn = 1;
	else if (strcasecmp(t, "CHUNKING") == 0)
		cp->chunking = 1;
	else if (strncasecmp(t, "SIZE", 4) == 0 && (t[4] == ' ' ||
	    t[4] == '\0')) {
		(void)strlcpy(num, t[4] == ' ' ? t + 5 : "0", sizeof(num));
		cp->size = (unsigned long)strtonum(num, 0, LLONG_MAX, &errstr);
		if (errstr != NULL)
			cp->size = 0;
	} else if (strncasecmp(t, "AUTH", 4) == 0 && (t[4] == ' ' ||
	    t[4] == '=')) {
		/* "AUTH=" is the pre-RFC form some servers still send. */
		cp->auth = 1;
		if (cp->mechs[0] != '\0')
			(void)strlcat(cp->mechs, " ", sizeof(cp->mechs));
		(void)strlcat(cp->mechs, t + 5 + strspn(t + 5, " "),
		    sizeof(cp->mechs));
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
		    e) == -1) {
			s->broken = 1;
			return -1;
		}
		/*
		 * A SASL challenge: with the response, enough to crack a
		 * weak password offline.  Only root sees it.
		 */
		if (len >= 3 && strncmp(s->line, "334", 3) == 0 &&
		    getuid() != 0)
			log_proto("<- ", "334 <redacted>", 14);
		else
			log_proto("<- ", s->line, len);
		if (len == 0 || s->line[len - 1] != '\n') {
			s->broken = 1;
			return err_set(e, ERR_PROTO, "%s: reply line too "
			    "long or unterminated", s->c.peer);
		}
		st = smtp_reply_line(r, s->line, len);
		if (st == REPLY_BAD) {
			char shown[128];

			s->broken = 1;
			log_escape(shown, sizeof(shown), s->line, len);
			return err_set(e, ERR_PROTO, "%s: malformed reply: "
			    "%s", s->c.peer, shown);
		}
		if (caps != NULL && r->nlines > 1) {
			s->line[strcspn(s->line, "\r\n")] = '\0';
			parse_cap(caps, s->line + 4);
		}
	} while (st == REPLY_MORE);
	/* RFC 5321 section 3.8: 421 means the server closes the channel. */
	if (r->code == 421)
		s->broken = 1;
	return 0;
}

/* A reply that refuses: 4xx is temporary, 5xx permanent. */
static int
refused(struct session *s, const char *what, const struct reply *r,
    struct err *e)
{
	/* A clean refusal: the connection can carry the next message. */
	s->refusal = 1;
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

	if (s->quit_sent)
		return;
	s->quit_sent = 1;
	if (cmd(s, NULL, &e, "QUIT") == 0)
		(void)net_flush(&s->c, &e);
}

/*
 * After a failed transaction: QUIT when this was the last message, else
 * keep the connection for the next one (RSET comes first).
 */
static void
finish(struct session *s)
{
	if (!s->more)
		quit(s);
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
	/* TLS is set up while the reply travels: no round trip waits on it. */
	if (cmd(s, NULL, e, "STARTTLS") == -1 || net_flush(&s->c, e) == -1 ||
	    tls_prepare(&s->c, s->a, s->host, s->report == NULL, e) == -1 ||
	    exchange(s, "STARTTLS", 220, e) == -1)
		return -1;
	if (net_pending(&s->c))
		return err_set(e, ERR_PROTO, "%s: the server sent data after "
		    "its STARTTLS reply, before the TLS handshake (possible "
		    "injection attack); aborted", s->c.peer);
	if (tls_start(&s->c, s->a, s->host, s->report == NULL, e) == -1)
		return -1;
	/* RFC 3207 section 4.2: forget what was learnt in clear. */
	return ehlo(s, e);
}

/*
 * Connect to host and get to the point where a transaction can start:
 * [implicit TLS], greeting, EHLO, [STARTTLS, EHLO].
 */
static int
session_open(struct session *s, const char *host, struct err *e)
{
	const struct account	*a = s->a;
	struct reply		 r;

	/* A copy: the host list it comes from is gone once opened. */
	free(s->host);
	s->host = xstrdup(host);
	s->quit_sent = s->broken = s->authed = 0;
	if (net_connect(&s->c, host, conf_port(a), a->timeout, a->source_ip,
	    e) == -1)
		return -1;
	if (a->tls && !a->starttls && tls_start(&s->c, a, host,
	    s->report == NULL, e) == -1)
		return -1;
	if (read_reply(s, &r, NULL, e) == -1)
		return -1;
	if (s->report != NULL)
		fprintf(s->report, "greeting: %d %s\n", r.code, r.text);
	if (r.code != 220) {
		quit(s);
		return refused(s, "greeting", &r, e);
	}
	if (ehlo(s, e) == -1)
		return -1;
	if (a->tls && a->starttls && starttls(s, e) == -1)
		return -1;
	return 0;
}

static int
auth_refused(struct session *s, const struct reply *r, struct err *e)
{
	return err_set(e, r->code >= 400 && r->code < 500 ? ERR_TEMP :
	    ERR_NOPERM, "%s: authentication failed: %d %s", s->c.peer,
	    r->code, r->text);
}

/* Queue one SASL response, base64, shown redacted. */
static int
auth_respond(struct session *s, const char *prefix, unsigned char *resp,
    size_t len, struct err *e)
{
	char	*b64, shown[64];
	int	 rc;

	b64 = crypto_b64enc(resp, len);
	freezero(resp, len);
	(void)snprintf(shown, sizeof(shown), "%s<redacted>", prefix);
	/* RFC 4954 section 4: an empty initial response is "=". */
	rc = cmd(s, shown, e, "%s%s", prefix, len > 0 ? b64 :
	    *prefix != '\0' ? "=" : "");
	freezero(b64, strlen(b64));
	return rc;
}

/*
 * Give up an AUTH exchange in the middle: "*" cancels it (RFC 4954
 * section 4), then QUIT; what the server answers does not matter.
 */
static void
auth_cancel(struct session *s)
{
	struct reply	r;
	struct err	e;

	if (cmd(s, NULL, &e, "*") == 0 && net_flush(&s->c, &e) == 0)
		(void)read_reply(s, &r, NULL, &e);
	quit(s);
}

/*
 * The AUTH exchange after the command: each 334 challenge gets the
 * mechanism's response until the server says 235 or refuses.
 */
static int
auth_exchange(struct session *s, struct sasl *sasl, struct err *e)
{
	struct reply	 r;
	unsigned char	*in, *out;
	size_t		 inlen, outlen;

	for (;;) {
		if (net_flush(&s->c, e) == -1 ||
		    read_reply(s, &r, NULL, e) == -1)
			return -1;
		if (r.code == 235)
			break;
		if (r.code != 334) {
			quit(s);
			return auth_refused(s, &r, e);
		}
		if (crypto_b64dec(r.text, &in, &inlen) == -1) {
			auth_cancel(s);
			return err_set(e, ERR_PROTO, "%s: AUTH challenge is "
			    "not base64", s->c.peer);
		}
		if (sasl_step(sasl, in, inlen, &out, &outlen, e) == -1) {
			freezero(in, inlen);
			auth_cancel(s);
			return -1;
		}
		freezero(in, inlen);
		if (auth_respond(s, "", out, outlen, e) == -1)
			return -1;
	}
	if (sasl_done(sasl, e) == -1) {
		quit(s);	/* authenticated, but not to our satisfaction */
		return -1;
	}
	return 0;
}

/*
 * Authenticate.  When the mechanism has an initial response and the
 * server pipelines, the AUTH command is only queued: it leads the
 * transaction's group (RFC 4954 section 4), *led says so, and the
 * returned sasl is checked there.
 */
static int
authenticate(struct session *s, int may_lead, struct sasl **led,
    struct err *e)
{
	enum auth_mech	 mech;
	struct sasl	*sasl;
	unsigned char	*resp;
	size_t		 len;
	char		 prefix[64];
	int		 rc;

	*led = NULL;
	if (s->a->auth == AUTH_OFF)
		return 0;
	if (!s->caps.auth) {
		quit(s);
		return err_set(e, ERR_UNAVAIL, "%s: authentication is "
		    "configured but the server offers no AUTH", s->c.peer);
	}
	if ((mech = sasl_choose(s->a, s->caps.mechs, e)) == AUTH_OFF) {
		char why[ERR_MSGLEN];

		quit(s);
		(void)strlcpy(why, e->msg, sizeof(why));
		return err_set(e, ERR_UNAVAIL, "%s: %s", s->c.peer, why);
	}
	sasl = sasl_new(mech, s->a);
	(void)snprintf(prefix, sizeof(prefix), "AUTH %s ", sasl_name(mech));
	rc = sasl_initial(sasl, &resp, &len, e);
	if (rc == 1)
		rc = auth_respond(s, prefix, resp, len, e);
	else if (rc == 0)
		rc = cmd(s, NULL, e, "AUTH %s", sasl_name(mech));
	if (rc == 0 && may_lead && s->caps.pipelining && sasl_can_lead(mech)) {
		*led = sasl;
		return 0;
	}
	if (rc == 0)
		rc = auth_exchange(s, sasl, e);
	s->token_refused = rc == -1 && e->cls == ERR_NOPERM &&
	    sasl_token_refused(sasl) && oauth2_enabled(s->a);
	sasl_free(sasl);
	return rc;
}

/*
 * Authenticate; when the server refused an OAuth2 access token ({"status":
 * "401"} in its challenge), refresh it once and try once more on a new
 * connection.  A second refusal is a refused login.
 */
static int
authenticate_retry(struct session *s, int may_lead, struct sasl **led,
    struct err *e)
{
	char	*host;
	int	 rc;

	s->token_refused = 0;
	if ((rc = authenticate(s, may_lead, led, e)) == 0 ||
	    !s->token_refused)
		return rc;
	log_debug("the server refused the access token: refreshing it, "
	    "then AUTH again on a new connection");
	net_close(&s->c);
	/* The account's password is the token: oauth2.c replaces it. */
	if (oauth2_token((struct account *)(uintptr_t)s->a, OAUTH2_REFUSED,
	    e) == -1)
		return -1;
	host = xstrdup(s->host);
	rc = session_open(s, host, e);
	free(host);
	if (rc == -1)
		return -1;
	return authenticate(s, may_lead, led, e);
}

/* --- the transaction -------------------------------------------------- */

/* The message's size on the wire, before dot-stuffing: DKIM included. */
static off_t
wire_size(const struct msg *m)
{
	return m->size + (off_t)m->siglen;
}

/*
 * Queue the prepared message, its DKIM-Signature fields first: after DATA
 * dot-stuffed (RFC 5321 section 4.5.2), or as one "BDAT size LAST" chunk
 * (RFC 3030), which needs no stuffing and no end marker.  Written out in
 * large pieces.
 */
static int
send_message(struct session *s, const struct msg *m, int bdat, struct err *e)
{
	char	 buf[MSG_IOSZ];
	ssize_t	 n;
	int	 bol = 1;
	off_t	 off = 0;

	s->body_sent = 1;
	if (bdat && cmd(s, NULL, e, "BDAT %lld LAST",
	    (long long)wire_size(m)) == -1)
		return -1;
	log_debug("sending the message: %lld bytes", (long long)wire_size(m));
	/* DKIM-Signature fields: no line of theirs starts with a dot. */
	if (m->siglen > 0 && net_write(&s->c, m->sig, m->siglen, e) == -1)
		return -1;
	/* A queue file goes on after the message with its envelope. */
	while (off < m->size && (n = pread(m->fd, buf, (size_t)(m->size -
	    off < (off_t)sizeof(buf) ? m->size - off : (off_t)sizeof(buf)),
	    off)) != 0) {
		char *p = buf, *end, *nl;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_IO, "reading the message: %s",
			    strerror(errno));
		off += n;
		end = buf + n;
		while (p < end) {
			if (!bdat && bol && *p == '.' &&
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
	if (off != m->size)
		return err_set(e, ERR_IO, "the message file changed size");
	return 0;
}

/* The reply to the end of the message can take long (RFC 5321 4.5.3.2). */
static void
data_timeout(struct session *s)
{
	if (s->c.timeout > 0 && s->c.timeout < SMTP_DATA_TIMEOUT * 1000)
		s->c.timeout = SMTP_DATA_TIMEOUT * 1000;
}

/* Does the envelope need SMTPUTF8 (RFC 6531): a byte that is not ASCII? */
static const char *
needs_utf8(const struct envelope *env)
{
	const unsigned char	*p;
	size_t			 i;

	for (p = (const unsigned char *)env->from; *p != '\0'; p++)
		if (*p >= 0x80)
			return env->from;
	for (i = 0; i < env->nrcpt; i++)
		for (p = (const unsigned char *)env->rcpts[i].addr; *p != '\0';
		    p++)
			if (*p >= 0x80)
				return env->rcpts[i].addr;
	return NULL;
}

/* xtext (RFC 3461 section 4): '+', '=' and what is not visible as +XX. */
static void
xtext(char *dst, size_t size, const char *src)
{
	size_t	o = 0;

	for (; *src != '\0' && o + 4 < size; src++) {
		unsigned char c = (unsigned char)*src;

		if (c < 33 || c > 126 || c == '+' || c == '=')
			o += (size_t)snprintf(dst + o, size - o, "+%02X", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

/* The parameters of MAIL FROM (RFC 1870, 6152, 6531, 3461). */
static void
mail_params(struct session *s, const struct envelope *env,
    const struct msg *m, char *buf, size_t size)
{
	char	tmp[256];

	buf[0] = '\0';
	if (s->caps.size) {
		(void)snprintf(tmp, sizeof(tmp), " SIZE=%lld",
		    (long long)wire_size(m));
		(void)strlcat(buf, tmp, size);
	}
	if (m->eightbit && s->caps.eightbitmime)
		(void)strlcat(buf, " BODY=8BITMIME", size);
	if (needs_utf8(env) != NULL)
		(void)strlcat(buf, " SMTPUTF8", size);
	if (s->caps.dsn && env->dsn_ret != NULL) {
		(void)snprintf(tmp, sizeof(tmp), " RET=%s", env->dsn_ret);
		(void)strlcat(buf, tmp, size);
	}
	if (s->caps.dsn && env->envid != NULL) {
		(void)strlcat(buf, " ENVID=", size);
		xtext(tmp, sizeof(tmp), env->envid);
		(void)strlcat(buf, tmp, size);
	}
}

/*
 * Queue command i of the transaction: MAIL, then every RCPT, then DATA
 * or, with CHUNKING, BDAT with the whole message.
 */
static int
envelope_cmd(struct session *s, const struct envelope *env,
    const struct msg *m, size_t i, struct err *e)
{
	char	params[512];

	if (i == 0) {
		mail_params(s, env, m, params, sizeof(params));
		return cmd(s, NULL, e, "MAIL FROM:<%s>%s", env->from, params);
	}
	if (i <= env->nrcpt) {
		params[0] = '\0';
		if (s->caps.dsn && env->dsn_notify != NULL)
			(void)snprintf(params, sizeof(params), " NOTIFY=%s",
			    env->dsn_notify);
		return cmd(s, NULL, e, "RCPT TO:<%s>%s",
		    env->rcpts[i - 1].addr, params);
	}
	if (s->caps.chunking)
		return send_message(s, m, 1, e);
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

/* Some recipient got a 4xx at RCPT. */
static int
deferred(const struct envelope *env)
{
	size_t	i;

	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state == RCPT_TEMPFAIL)
			return 1;
	return 0;
}

static int
no_recipient(struct session *s, const struct envelope *env, struct err *e)
{
	s->refusal = 1;
	if (deferred(env))
		return err_set(e, ERR_TEMP, "%s: no recipient was accepted",
		    s->c.peer);
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
		finish(s);
	else
		s->broken = 1;
}

/*
 * The transaction: MAIL, RCPT..., then DATA (up to its 354) or, with
 * CHUNKING, BDAT with the whole message.  With PIPELINING the commands go
 * out in one write, led by a queued AUTH (led), and every reply of the
 * group is read before anything else is sent (RFC 2920 section 3.1), so
 * the session ends cleanly whatever failed.  A group holds at most
 * SMTP_GROUP commands: with more, a server whose replies are not read
 * stops reading while this side is still writing, and both wait (RFC
 * 2920 section 3.1's deadlock).  Without PIPELINING, each command waits
 * for its reply and nothing is sent in vain.
 *
 * The body is never sent before AUTH's success is known, even with
 * CHUNKING: a server that takes mail for its own domains without AUTH
 * would otherwise deliver it unauthenticated.  So BDAT joins the first
 * group only when no AUTH leads it.
 *
 * An envelope that is to go whole (env->whole: -bs without a queue)
 * gets no body while any recipient is deferred: the client is told 4xx
 * and retries, and a copy already delivered to the others would then be
 * a second one.  So BDAT, too, waits for the RCPT replies.
 *
 * Returns 0 when the body is to follow DATA's 354, 1 when the message
 * went with BDAT and was accepted, -1 on failure; every recipient's
 * state is set.
 */
static int
transaction(struct session *s, struct envelope *env, const struct msg *m,
    struct sasl *led, struct err *e)
{
	struct reply	 mail, r, auth;
	int		 pipe = s->caps.pipelining;
	int		 chunk_later = s->caps.chunking && (led != NULL ||
			    env->whole);
	size_t		 i, n = env->nrcpt + (chunk_later ? 1 : 2), ok = 0;
	size_t		 first = 0;	/* the first command not yet read */

	smtp_reply_init(&mail);
	smtp_reply_init(&r);
	for (i = 0; i < n; i++) {
		if (envelope_cmd(s, env, m, i, e) == -1)
			return -1;
		if (pipe && i + 1 < n && i + 1 - first < SMTP_GROUP)
			continue;
		if (s->caps.chunking && !chunk_later && i + 1 == n) {
			/* Nothing else is due: QUIT rides with the body. */
			if (pipe && !s->more && cmd(s, NULL, e, "QUIT") == -1)
				return -1;
			s->quit_sent = pipe && !s->more;
			data_timeout(s);
		}
		if (net_flush(&s->c, e) == -1)
			return -1;
		if (led != NULL) {
			if (read_reply(s, &auth, NULL, e) == -1)
				return -1;
			if (auth.code != 235 || sasl_done(led, e) == -1) {
				/* Never send the body, even after a 354. */
				if (group_replies(s, env, 0, i, &mail, &r,
				    NULL, e) == 0)
					abandon(s, &r);
				return auth.code != 235 ?
				    auth_refused(s, &auth, e) : -1;
			}
			led = NULL;
		}
		if (group_replies(s, env, first, i, &mail, &r, &ok, e) == -1)
			return -1;
		first = i + 1;
		if (mail.code / 100 != 2)
			break;
		if (!pipe && i == env->nrcpt && (ok == 0 ||
		    (env->whole && deferred(env))))
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
	if (env->whole && deferred(env)) {
		abandon(s, &r);
		s->refusal = 1;	/* a clean end: the connection may go on */
		for (i = 0; i < env->nrcpt; i++)
			if (env->rcpts[i].state == RCPT_OK)
				env->rcpts[i].state = RCPT_PENDING;
		return err_set(e, ERR_TEMP, "%s: a recipient was deferred: "
		    "nothing sent, so that a retry makes no second copy",
		    s->c.peer);
	}
	if (chunk_later) {
		if (send_message(s, m, 1, e) == -1 ||
		    (pipe && !s->more && cmd(s, NULL, e, "QUIT") == -1))
			return -1;
		s->quit_sent = pipe && !s->more;
		data_timeout(s);
		if (net_flush(&s->c, e) == -1 ||
		    read_reply(s, &r, NULL, e) == -1)
			return -1;
	}
	if (s->caps.chunking) {
		env->final = r;
		if (r.code / 100 == 2)
			return 1;
		finish(s);
		return refused(s, "end of data", &r, e);
	}
	if (r.code == 354)
		return unsolicited(s, e);
	/*
	 * DATA has no 2xx reply (RFC 5321 section 4.3.2): one is the reply
	 * to an earlier command, and the count is off.
	 */
	if (r.code < 400) {
		s->broken = 1;
		return err_set(e, ERR_PROTO, "%s: reply to DATA: %d %s (more "
		    "replies than commands)", s->c.peer, r.code, r.text);
	}
	finish(s);
	return refused(s, "DATA", &r, e);
}

/*
 * "host[address]:port" of the server the transaction goes to, for the
 * summary line (Postfix's relay= field).  c.peer is "address:port" or
 * "[address]:port".
 */
static void
set_relay(struct session *s, struct envelope *env)
{
	char	 addr[sizeof(s->c.peer)], *p;

	(void)strlcpy(addr, s->c.peer, sizeof(addr));
	if ((p = strrchr(addr, ':')) != NULL)
		*p++ = '\0';
	addr[strcspn(addr, "]")] = '\0';
	(void)snprintf(env->relay, sizeof(env->relay), "%s[%s]:%s", s->host,
	    addr[0] == '[' ? addr + 1 : addr, p != NULL ? p : "?");
}

/*
 * Deliver over an open session: AUTH, the transaction, the body.
 */
static int
deliver(struct session *s, struct envelope *env, const struct msg *m,
    struct err *e)
{
	struct sasl	*led;
	struct reply	 r;
	const char	*u;
	int		 rc;

	set_relay(s, env);
	if ((u = needs_utf8(env)) != NULL && !s->caps.smtputf8) {
		finish(s);
		s->refusal = 1;
		return err_set(e, ERR_DATA, "%s: the address <%s> needs "
		    "SMTPUTF8, which the server does not offer", s->c.peer, u);
	}
	if (s->caps.size && (unsigned long long)wire_size(m) > s->caps.size) {
		finish(s);
		s->refusal = 1;
		return err_set(e, ERR_UNAVAIL, "%s: the message (%lld bytes) "
		    "exceeds the server's size limit of %lu bytes", s->c.peer,
		    (long long)wire_size(m), s->caps.size);
	}
	if (!s->caps.dsn && (env->dsn_notify != NULL ||
	    env->dsn_ret != NULL || env->envid != NULL))
		log_warnx("warning: %s does not offer DSN; the DSN request "
		    "is ignored", s->c.peer);
	led = NULL;
	if (!s->authed && authenticate_retry(s, 1, &led, e) == -1)
		return -1;
	s->authed = 1;
	rc = transaction(s, env, m, led, e);
	if (led != NULL)
		sasl_free(led);
	if (rc == 1 && !s->caps.pipelining && !s->more)
		quit(s);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	if (send_message(s, m, 0, e) == -1 || cmd(s, NULL, e, ".") == -1)
		return -1;
	/* Nothing else is due: QUIT rides with the end of data. */
	if (s->caps.pipelining && !s->more && cmd(s, NULL, e, "QUIT") == -1)
		return -1;
	s->quit_sent = s->caps.pipelining && !s->more;
	data_timeout(s);
	if (net_flush(&s->c, e) == -1 || read_reply(s, &r, NULL, e) == -1)
		return -1;
	env->final = r;
	if (r.code / 100 != 2)
		return refused(s, "end of data", &r, e);
	if (!s->more)
		quit(s);
	return 0;
}

/*
 * The last EHLO is in: a server without 8BITMIME gets a copy of the
 * message with its 8-bit parts quoted-printable (RFC 6152 section 3),
 * before SIZE and MAIL FROM are computed from it.  DKIM signs last, what
 * is sent: the downgrade is hashed as it is written, else the prepared
 * file is read once for the hash.
 */
static int
deliver_any(struct session *s, struct envelope *env, const struct msg *m,
    struct err *e)
{
	struct msg	 dm, sm;
	struct dkim	*dk = NULL;
	const struct msg *use = m;
	char		*sig = NULL;
	size_t		 siglen = 0;
	int		 down, rc = -1;

	down = m->eightbit && !s->caps.eightbitmime;
	if (s->a->ndkim > 0)
		dk = dkim_new(s->a, time(NULL));
	if (down) {
		log_debug("no 8BITMIME: re-encoding the 8-bit parts");
		if (msg_downgrade(m, &dm, dk, e) == -1) {
			dkim_free(dk);
			finish(s);
			return -1;
		}
		use = &dm;
	} else if (dk != NULL && dkim_file(dk, m->fd, m->size, e) == -1) {
		dkim_free(dk);
		finish(s);
		return -1;
	}
	if (dk != NULL) {
		if ((sig = dkim_final(dk, &siglen, e)) == NULL) {
			finish(s);
			goto out;
		}
		log_debug("DKIM: %zu signature%s, %zu bytes", s->a->ndkim,
		    s->a->ndkim == 1 ? "" : "s", siglen);
		sm = *use;
		sm.sig = sig;
		sm.siglen = siglen;
		use = &sm;
	}
	rc = deliver(s, env, use, e);
out:
	if (down)
		msg_close(&dm);
	free(sig);
	return rc;
}

/*
 * Open a session with the first host of the account's list that works.
 * The next host is tried after a failure that another host may not have:
 * no connection, a timeout, a 4xx greeting or EHLO, a TLS failure.
 */
static int
open_any(struct session *s, char *hosts, struct err *e)
{
	char	*h, *next;

	for (h = hosts; h != NULL; h = next) {
		h += strspn(h, " \t,");
		if ((next = strpbrk(h, " \t,")) != NULL)
			*next++ = '\0';
		if (next != NULL && next[strspn(next, " \t,")] == '\0')
			next = NULL;
		if (session_open(s, h, e) == 0)
			return 0;
		net_close(&s->c);
		if (next == NULL || (e->cls != ERR_TEMP &&
		    e->cls != ERR_TLSPOLICY))
			return -1;
		log_warnx("%s; trying the next host", e->msg);
	}
	return -1;
}

static struct session *
session_new(const struct account *a, const char *helo, struct err *e)
{
	struct session	*s;

	/*
	 * OAuth2: the access token, cached or refreshed, before anything
	 * connects; the account's password is the token (oauth2.c).
	 */
	if (a->auth != AUTH_OFF && oauth2_token((struct account *)(uintptr_t)a,
	    OAUTH2_CACHED, e) == -1)
		return NULL;

	if (a->auth != AUTH_OFF && !a->tls && !a->plaintext) {
		err_set(e, ERR_CONFIG, "%s:%zu: account '%s': auth without "
		    "tls would send the password in clear (say "
		    "auth_allow_plaintext on if that is really meant)",
		    a->file, a->line, a->name);
		return NULL;
	}
	if (a->auth != AUTH_OFF && sasl_needs_password(a->auth) &&
	    (a->user == NULL || a->password == NULL)) {
		err_set(e, ERR_CONFIG, "%s:%zu: account '%s': auth needs user "
		    "and password (or passwordeval)", a->file, a->line,
		    a->name);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->helo = helo;
	s->c.fd = -1;
	return s;
}

static void
session_free(struct session *s)
{
	net_close(&s->c);
	free(s->host);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/*
 * Open a session for account a, saying helo in EHLO: connected, greeted,
 * with TLS as configured.  NULL with e set when no host would do.
 */
struct session *
smtp_open(const struct account *a, const char *helo, struct err *e)
{
	struct session	*s;
	char		*hosts;
	int		 rc;

	if ((s = session_new(a, helo, e)) == NULL)
		return NULL;
	hosts = xstrdup(a->host);
	rc = open_any(s, hosts, e);
	free(hosts);
	if (rc == -1) {
		session_free(s);
		return NULL;
	}
	return s;
}

/*
 * Deliver m to every recipient of env over session s.  more says that
 * another message follows on this connection: QUIT then does not ride
 * with the end of data.  On return each recipient's state says what
 * became of it (RCPT_OK only counts when 0 is returned); the error, if
 * any, is what went wrong with the transaction as a whole.  Between
 * messages, RSET clears a transaction that failed (RFC 5321 4.1.1.5).
 */
int
smtp_deliver(struct session *s, struct envelope *env, const struct msg *m,
    int more, struct err *e)
{
	int	rc;

	s->retryable = 0;
	if (s->broken || s->quit_sent)
		return err_set(e, ERR_TEMP, "%s: the connection is no longer "
		    "usable", s->c.peer);
	s->c.timeout = s->a->timeout * 1000;
	s->body_sent = 0;
	if (s->used && s->dirty) {
		if (cmd(s, NULL, e, "RSET") == -1 ||
		    exchange(s, "RSET", 250, e) == -1) {
			s->broken = 1;
			s->retryable = e->cls == ERR_TEMP;
			return -1;
		}
	}
	s->retryable = s->used;	/* until the body goes out */
	s->used = 1;
	s->dirty = 0;
	s->refusal = 0;
	s->more = more;
	if ((rc = deliver_any(s, env, m, e)) == -1) {
		s->dirty = 1;
		if (!s->refusal)
			s->broken = 1;
	}
	s->retryable = rc == -1 && s->retryable && s->broken &&
	    !s->body_sent && e->cls == ERR_TEMP;
	return rc;
}

/*
 * Did the last smtp_deliver() fail only because the connection, which
 * had carried an earlier message, was gone (a 421, a server that closed
 * it while idle) before any of the message was sent?  Then nobody has
 * it, and it may be tried at once on a new connection (-bs).
 */
int
smtp_retryable(const struct session *s)
{
	return s != NULL && s->retryable;
}

/* Is s a session of account a that can carry another message? */
int
smtp_reusable(const struct session *s, const struct account *a)
{
	return s != NULL && s->a == a && smtp_usable(s);
}

/* Can s carry another message? */
int
smtp_usable(const struct session *s)
{
	return !s->broken && !s->quit_sent;
}

/* End the session: QUIT (its 221 is not awaited) unless already said. */
void
smtp_close(struct session *s)
{
	if (s == NULL)
		return;
	if (!s->broken)
		quit(s);
	session_free(s);
}

/*
 * Deliver m through account a on a connection of its own: smtp_open,
 * smtp_deliver, smtp_close.
 */
int
smtp_send(const struct account *a, struct envelope *env, const struct msg *m,
    const char *helo, struct err *e)
{
	struct session	*s;
	int		 rc;

	if ((s = smtp_open(a, helo, e)) == NULL)
		return -1;
	rc = smtp_deliver(s, env, m, 0, e);
	session_free(s);
	return rc;
}

/*
 * postern --check: connect as a delivery would and show what was found
 * on fp; no mail is sent.  Succeeds only when a real send would get as
 * far as MAIL FROM.
 */
int
smtp_check(const struct account *a, const char *helo, FILE *fp,
    struct err *e)
{
	struct session	*s;
	struct sasl	*led;
	char		*hosts;
	int		 rc = -1;

	if ((s = session_new(a, helo, e)) == NULL)
		return -1;
	dkim_records(a, fp);	/* useful even when the server is not */
	s->report = fp;
	hosts = xstrdup(a->host);
	if (open_any(s, hosts, e) == -1)
		goto out;
	fprintf(fp, "server: %s (%s)\n", s->host, s->c.peer);
	if (s->c.tls != NULL)
		tls_print(&s->c, fp);
	else
		fprintf(fp, "TLS: none\n");
	fprintf(fp, "capabilities:\n");
	fprintf(fp, "%s", s->caps.text);
	fprintf(fp, "AUTH mechanisms: %s\n", s->caps.auth ? s->caps.mechs :
	    "none");
	if (authenticate_retry(s, 0, &led, e) == -1)
		goto out;
	if (a->auth != AUTH_OFF)
		fprintf(fp, "authentication: ok\n");
	quit(s);
	rc = 0;
out:
	free(hosts);
	session_free(s);
	return rc;
}
