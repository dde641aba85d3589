/*
 * postern -bs: the server side of an SMTP session on standard input and
 * output, for the programs that talk SMTP to sendmail (Symfony Mailer's
 * SendmailTransport, Laravel, SwiftMailer, swaks --pipe).  Each message
 * goes through submit_message(): the fix-ups, queue and delivery of the
 * sendmail mode (not yet its aliases or summary line, which live in
 * main.c's run_send()); the reply to its final "." says what became of
 * it (DESIGN.md, "-bs").
 *
 * Input is read into a buffer and parsed from there, so that a client
 * may pipeline (RFC 2920): replies are answered in order and written out
 * only when no more input is buffered (section 3.2).  A command line is
 * at most 1000 octets with its CRLF (RFC 5321 section 4.5.3.1.4 as
 * raised by the extensions we offer); a longer one gets 500 and is
 * discarded up to its LF.  In DATA, CRLF or a bare LF ends a line, but
 * only "<CRLF>.<CRLF>" ends the data (RFC 5321 section 4.1.1.4), so that
 * a message cannot be cut short, or a second one smuggled, with bare
 * line ends; msg.c then turns every line end into CRLF.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"

#define SRV_IBUFSZ	65536
#define SRV_LINEMAX	1000	/* octets of a command line, CRLF included */
#define SRV_REPLYMAX	512	/* RFC 5321 section 4.5.3.1.5 */
#define SRV_MAXRCPT	1000	/* at least 100: section 4.5.3.1.8 */

enum srv_line {
	LINE_OK,
	LINE_TOOLONG,
	LINE_EOF
};

struct server {
	const struct server_opts *o;
	struct conf	 conf;
	char		*fqdn;
	const char	*name;		/* ours, in the greeting and EHLO */
	char		 ibuf[SRV_IBUFSZ];
	size_t		 ipos, ilen;
	int		 eof;
	char		*obuf;
	size_t		 olen, ocap;
	int		 werr;		/* errno of a failed reply write */
	int		 greeted;	/* HELO or EHLO seen */
	int		 quit;
	/* the transaction */
	int		 inmail;
	size_t		 tries;		/* RCPT commands, accepted or not */
	struct account	*acct;
	char		*maildomain;
	struct envelope	 env;
	/* DATA to its temporary file */
	int		 dfd;
	char		 dbuf[SRV_IBUFSZ];
	size_t		 dlen;
	int		 derr;		/* errno of a failed write, or 0 */
	/* the smarthost connection, kept from one message to the next */
	struct session	*smarthost;
};

/* --- output ------------------------------------------------------------ */

static void
out_flush(struct server *sv)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < sv->olen && !sv->werr) {
		if ((n = write(STDOUT_FILENO, sv->obuf + off,
		    sv->olen - off)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			sv->werr = n == 0 ? EIO : errno;
		else
			off += (size_t)n;
	}
	sv->olen = 0;
}

/*
 * One reply line, CRLF added.  Whatever the text holds (an address, a
 * smarthost's reply), only printable ASCII goes out, and at most 512
 * octets.
 */
static void
reply(struct server *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply(struct server *sv, const char *fmt, ...)
{
	char	 line[SRV_REPLYMAX];
	va_list	 ap;
	size_t	 i, n;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	n = strlen(line);
	for (i = 0; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			line[i] = '?';
	memcpy(line + n, "\r\n", 2);
	n += 2;
	if (sv->olen + n > sv->ocap) {
		sv->ocap = (sv->olen + n) * 2;
		sv->obuf = xreallocarray(sv->obuf, sv->ocap, 1);
	}
	memcpy(sv->obuf + sv->olen, line, n);
	sv->olen += n;
}

/* --- input ------------------------------------------------------------- */

/*
 * More input at the end of the buffer, kept from ipos on.  Before it
 * blocks, every reply so far goes out (RFC 2920 section 3.2).  Returns 0
 * at EOF.
 */
static int
in_fill(struct server *sv)
{
	ssize_t	n;

	if (sv->ipos > 0) {
		memmove(sv->ibuf, sv->ibuf + sv->ipos, sv->ilen - sv->ipos);
		sv->ilen -= sv->ipos;
		sv->ipos = 0;
	}
	if (sv->eof || sv->ilen == sizeof(sv->ibuf))
		return !sv->eof;
	out_flush(sv);
	for (;;) {
		n = read(STDIN_FILENO, sv->ibuf + sv->ilen,
		    sizeof(sv->ibuf) - sv->ilen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a read error ends the session like EOF */
			sv->eof = 1;
			return 0;
		}
		sv->ilen += (size_t)n;
		return 1;
	}
}

/*
 * The next command line, without its line end, NUL-terminated in buf
 * (the length in *len, as the line may hold a NUL).  A line still
 * unterminated at EOF is no command.
 */
static enum srv_line
in_line(struct server *sv, char *buf, size_t *len)
{
	char	*lf;
	size_t	 n;
	int	 toolong = 0;

	for (;;) {
		lf = memchr(sv->ibuf + sv->ipos, '\n', sv->ilen - sv->ipos);
		if (lf != NULL)
			break;
		if (sv->ilen - sv->ipos > SRV_LINEMAX) {
			toolong = 1;	/* discarded up to its LF */
			sv->ipos = sv->ilen;
		}
		if (!in_fill(sv))
			return LINE_EOF;
	}
	n = (size_t)(lf - (sv->ibuf + sv->ipos));
	if (n > 0 && sv->ibuf[sv->ipos + n - 1] == '\r')
		n--;
	if (toolong || n > SRV_LINEMAX - 2) {
		sv->ipos = (size_t)(lf + 1 - sv->ibuf);
		return LINE_TOOLONG;
	}
	memcpy(buf, sv->ibuf + sv->ipos, n);
	buf[n] = '\0';
	*len = n;
	sv->ipos = (size_t)(lf + 1 - sv->ibuf);
	return LINE_OK;
}

/* --- the transaction --------------------------------------------------- */

static void
txn_reset(struct server *sv)
{
	submit_envelope_free(&sv->env);
	free(sv->maildomain);
	sv->maildomain = NULL;
	sv->acct = NULL;
	sv->inmail = 0;
	sv->tries = 0;
}

/* The word after "VERB" and white space, or NULL: "MAIL FROM:", "RCPT TO:". */
static const char *
arg_after(const char *line, const char *prefix)
{
	size_t	n = strlen(prefix);

	if (strncasecmp(line, prefix, n) != 0)
		return NULL;
	line += n;
	/* "MAIL FROM: <a@b>": a space after the colon is common enough */
	return line + strspn(line, " ");
}

static char *
xstrndup(const char *p, size_t n)
{
	char	*s;

	s = xcalloc(1, n + 1);
	memcpy(s, p, n);
	return s;
}

/*
 * The address of a reverse- or forward-path, "<a@b>" (a source route
 * "<@x,@y:a@b>" dropped, RFC 5321 section 4.1.1.3) or, as many servers
 * allow, a bare "a@b".  *rest points after it, at the parameters.
 */
static char *
path(const char *p, const char **rest)
{
	const char	*end, *colon;

	if (*p == '<') {
		if ((end = strchr(++p, '>')) == NULL)
			return NULL;
		*rest = end + 1;
		if (*p == '@' && (colon = memchr(p, ':', (size_t)(end - p))) !=
		    NULL)
			p = colon + 1;
	} else {
		/* "MAIL FROM:" alone is no null sender: that is "<>" */
		if ((end = p + strcspn(p, " ")) == p)
			return NULL;
		*rest = end;
	}
	if (**rest != '\0' && **rest != ' ')
		return NULL;
	return xstrndup(p, (size_t)(end - p));
}

/*
 * The ESMTP parameters of MAIL: SIZE=n (RFC 1870) and BODY=7BIT or
 * 8BITMIME (RFC 6152) are what we offer; the message is measured and
 * its 8-bit parts found by msg.c anyway.  Anything else gets 555 (RFC
 * 5321 section 4.1.1.11).  Returns 0 when all are fine.
 */
static int
mail_params(struct server *sv, const char *p)
{
	char		 kw[64];
	const char	*val, *errstr;
	size_t		 n, k;

	for (; *p != '\0'; p += n) {
		p += strspn(p, " ");
		if ((n = strcspn(p, " ")) == 0)
			break;
		k = strcspn(p, "= ");
		if (k >= sizeof(kw)) {
			reply(sv, "555 5.5.4 MAIL parameter not recognized");
			return -1;
		}
		memcpy(kw, p, k);
		kw[k] = '\0';
		val = p[k] == '=' ? p + k + 1 : NULL;
		if (strcasecmp(kw, "SIZE") == 0 && val != NULL) {
			char num[32];

			if (n - k - 1 >= sizeof(num))
				goto badsize;
			memcpy(num, val, n - k - 1);
			num[n - k - 1] = '\0';
			(void)strtonum(num, 0, LLONG_MAX, &errstr);
			if (errstr != NULL || num[0] == '\0' ||
			    num[strspn(num, "0123456789")] != '\0')
				goto badsize;
		} else if (strcasecmp(kw, "BODY") == 0 && val != NULL &&
		    ((n - k - 1 == 4 && strncasecmp(val, "7BIT", 4) == 0) ||
		    (n - k - 1 == 8 && strncasecmp(val, "8BITMIME", 8) == 0))) {
			/* nothing to do */
		} else {
			reply(sv, "555 5.5.4 MAIL parameter %.*s not "
			    "supported", (int)n, p);
			return -1;
		}
	}
	return 0;
badsize:
	reply(sv, "501 5.5.4 Syntax: SIZE=number");
	return -1;
}

/*
 * MAIL FROM: the sender, checked as -f would be; it also chooses the
 * account, as -f does (msmtp rules), unless -a named one.
 */
static void
cmd_mail(struct server *sv, const char *line)
{
	struct err	 e;
	const char	*p, *rest;
	char		*from;

	if (!sv->greeted) {
		reply(sv, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (sv->inmail) {
		reply(sv, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((p = arg_after(line, "MAIL FROM:")) == NULL ||
	    (from = path(p, &rest)) == NULL) {
		reply(sv, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	memset(&e, 0, sizeof(e));
	if (*from != '\0' && addr_valid_arg(from, &e) == -1) {
		reply(sv, "501 5.1.7 Bad sender address: %s", e.msg);
		free(from);
		return;
	}
	if (mail_params(sv, rest) == -1) {
		free(from);
		return;
	}
	if ((sv->acct = conf_account(&sv->conf, sv->o->account, from,
	    &e)) == NULL) {
		log_warnx("%s", e.msg);
		reply(sv, "451 4.3.5 Configuration error: %s", e.msg);
		free(from);
		return;
	}
	/*
	 * The DATA file holds the client's bytes as it sent them, its own:
	 * in the queue directory when the message is to be queued there (a
	 * read-only root has nothing else to write), else TMPDIR.  A spool
	 * that is not writable is left to queue_open() to report, at the end
	 * of DATA, as for any submission.
	 */
	scratch_dir(sv->acct->queue && queue_writable(sv->acct, &e) == 0 ?
	    conf_queuedir(sv->acct) : NULL);
	sv->maildomain = msg_maildomain(sv->acct->maildomain);
	/* allow_from_override off applies here as it does to -f. */
	if (submit_sender(sv->acct, from, sv->maildomain, &sv->env.from,
	    &e) == -1) {
		reply(sv, "501 5.1.7 Bad sender address: %s", e.msg);
		free(sv->env.from);
		sv->env.from = NULL;
		free(sv->maildomain);
		sv->maildomain = NULL;
		free(from);
		return;
	}
	/* The account's summary-line settings, as in the sendmail mode. */
	log_setup(sv->o->tag, sv->acct->syslog, sv->acct->logfile,
	    sv->acct->logtime);
	free(from);
	sv->inmail = 1;
	reply(sv, "250 2.1.0 Ok");
}

/* RCPT TO: each recipient checked as on the command line, kept once. */
static void
cmd_rcpt(struct server *sv, const char *line)
{
	struct err	 e;
	const char	*p, *rest;
	char		*to;
	size_t		 i;

	if (!sv->inmail) {
		reply(sv, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if ((p = arg_after(line, "RCPT TO:")) == NULL ||
	    (to = path(p, &rest)) == NULL) {
		reply(sv, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	sv->tries++;
	memset(&e, 0, sizeof(e));
	if (addr_valid_arg(to, &e) == -1) {
		reply(sv, "501 5.1.3 Bad recipient address: %s", e.msg);
		free(to);
		return;
	}
	if (rest[strspn(rest, " ")] != '\0') {
		reply(sv, "555 5.5.4 RCPT parameters not supported");
		free(to);
		return;
	}
	for (i = 0; i < sv->env.nrcpt; i++)
		if (addr_same(sv->env.rcpts[i].addr, to))
			break;
	if (i < sv->env.nrcpt) {
		free(to);
		reply(sv, "250 2.1.5 Ok");
		return;
	}
	if (sv->env.nrcpt == SRV_MAXRCPT) {
		free(to);
		reply(sv, "452 4.5.3 Error: too many recipients");
		return;
	}
	sv->env.rcpts = xreallocarray(sv->env.rcpts, sv->env.nrcpt + 1,
	    sizeof(*sv->env.rcpts));
	memset(&sv->env.rcpts[sv->env.nrcpt], 0, sizeof(*sv->env.rcpts));
	sv->env.rcpts[sv->env.nrcpt++].addr = to;
	reply(sv, "250 2.1.5 Ok");
}

/* --- DATA -------------------------------------------------------------- */

static int
data_open(struct server *sv)
{
	struct err	e;

	if ((sv->dfd = scratch_open(&e)) == -1)
		sv->derr = errno != 0 ? errno : EIO;
	sv->dlen = 0;
	return sv->dfd;
}

static void
data_flush(struct server *sv)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < sv->dlen && sv->derr == 0) {
		if ((n = write(sv->dfd, sv->dbuf + off, sv->dlen - off)) ==
		    -1 && errno == EINTR)
			continue;
		if (n == -1)
			sv->derr = errno;
		else
			off += (size_t)n;
	}
	sv->dlen = 0;
}

static void
data_put(struct server *sv, const char *p, size_t n)
{
	size_t	k;

	while (n > 0) {
		if (sv->dlen == sizeof(sv->dbuf))
			data_flush(sv);
		k = sizeof(sv->dbuf) - sv->dlen;
		if (k > n)
			k = n;
		memcpy(sv->dbuf + sv->dlen, p, k);
		sv->dlen += k;
		p += k;
		n -= k;
	}
}

/*
 * The text after DATA's 354, dot-unstuffed (RFC 5321 section 4.5.2), to
 * the temporary file, up to and without "<CRLF>.<CRLF>".  Line ends are
 * left for msg.c to normalise.  A long line goes through in pieces; a CR
 * at the end of a piece waits for the next one, since CRLF ends a line.
 * Returns 0 at the end of the data, -1 at EOF before it.
 */
static int
data_read(struct server *sv)
{
	const char	*b, *lf;
	size_t		 n;
	int		 bol = 1, crlf = 1;	/* the DATA line's CRLF */

	for (;;) {
		b = sv->ibuf + sv->ipos;
		n = sv->ilen - sv->ipos;
		lf = memchr(b, '\n', n);
		/* a line start needs 3 octets or its LF to be judged */
		if (n == 0 || (bol && lf == NULL && n < 3) ||
		    (!bol && lf == NULL && n == 1 && *b == '\r')) {
			/* b, n and lf are stale once the buffer moved */
			if (!in_fill(sv))
				return -1;
			continue;
		}
		if (bol) {
			if (crlf && n >= 3 && memcmp(b, ".\r\n", 3) == 0) {
				sv->ipos += 3;
				return 0;
			}
			/* "." alone not ending the data stays a line */
			if (*b == '.' && !(lf == b + 1 ||
			    (lf == b + 2 && b[1] == '\r')))
				sv->ipos++;
			bol = 0;
			continue;
		}
		if (lf != NULL) {
			n = (size_t)(lf - b) + 1;
			crlf = n >= 2 && lf[-1] == '\r';
			bol = 1;
		} else if (b[n - 1] == '\r')
			n--;
		data_put(sv, b, n);
		sv->ipos += n;
	}
}

/*
 * The reply to the final ".", once the message is delivered or not
 * (DESIGN.md, "-bs"): 250 when every recipient has it; 550 when every
 * recipient was refused; 554 when the message itself was refused or is
 * unusable; 451 when it could not be delivered now, which, with the
 * envelope sent whole (smtp.c), means nobody has it yet, so a retry
 * makes no second copy.  A mix of delivered and refused recipients gets
 * 250 naming the refused ones: the others have the message, and a 5xx
 * would tell the client that nobody does.  With the queue on, a deferred
 * recipient is queued (reason says why): that is a 250 too.
 */
static void
outcome(struct server *sv, int rc, const struct err *e, const char *reason)
{
	char	 refused[SRV_REPLYMAX], text[SRV_REPLYMAX];
	size_t	 i, ok = 0, queued = 0;

	refused[0] = '\0';
	for (i = 0; i < sv->env.nrcpt; i++) {
		const struct rcpt *r = &sv->env.rcpts[i];
		char one[SRV_REPLYMAX];

		if (r->state == RCPT_OK)
			ok++;
		if (r->state == RCPT_TEMPFAIL && rc == 0)
			queued++;
		/* queued ones are told by the reason, below */
		if (r->state != RCPT_PERMFAIL && (r->state != RCPT_TEMPFAIL ||
		    rc == 0))
			continue;
		log_warnx("<%s>: recipient %s: %d %s", r->addr,
		    r->state == RCPT_PERMFAIL ? "refused" : "deferred",
		    r->reply.code, r->reply.text);
		/* reply() cuts the text to fit a reply line */
		if (snprintf(one, sizeof(one), "%s<%s> %d %s",
		    refused[0] != '\0' ? "; " : "", r->addr, r->reply.code,
		    r->reply.text) >= 0)
			(void)strlcat(refused, one, sizeof(refused));
	}
	if (rc == 0 && ok == sv->env.nrcpt) {
		reply(sv, "250 2.0.0 Ok: delivered to %zu recipient%s", ok,
		    ok == 1 ? "" : "s");
		return;
	}
	if (rc == 0) {
		if (ok == 0 && queued > 0)
			(void)strlcpy(text, "Ok: queued", sizeof(text));
		else
			(void)snprintf(text, sizeof(text), "Ok: delivered to "
			    "%zu of %zu recipients", ok, sv->env.nrcpt);
		if (queued > 0) {
			log_warnx("queued: %s", reason);
			(void)strlcat(text, ok == 0 ? ": " : "; queued for "
			    "the others: ", sizeof(text));
			(void)strlcat(text, reason, sizeof(text));
		}
		if (refused[0] != '\0') {
			/* a DSN to the sender does not report these yet */
			(void)strlcat(text, "; refused: ", sizeof(text));
			(void)strlcat(text, refused, sizeof(text));
		}
		reply(sv, "250 2.0.0 %s", text);
		return;
	}
	log_warnx("%s", e->msg);
	switch (e->cls) {
	case ERR_NOUSER:
		reply(sv, "550 5.1.0 No recipient accepted: %s", refused);
		break;
	case ERR_DATA:
		reply(sv, "554 5.6.0 Message refused: %s", e->msg);
		break;
	case ERR_UNAVAIL:
	case ERR_TLSPOLICY:
	case ERR_USAGE:
		reply(sv, "554 5.0.0 Message refused: %s", e->msg);
		break;
	case ERR_NOPERM:
		reply(sv, "451 4.7.0 Try again later: %s", e->msg);
		break;
	case ERR_CONFIG:
		reply(sv, "451 4.3.5 Try again later: %s", e->msg);
		break;
	case ERR_TEMP:
	case ERR_PROTO:
		reply(sv, "451 4.4.0 Try again later: %s", e->msg);
		break;
	default:
		reply(sv, "451 4.3.0 Try again later: %s", e->msg);
		break;
	}
}

/* The message in sv->dfd, through the path of the sendmail mode. */
static void
deliver(struct server *sv)
{
	struct submission	 sub;
	struct err		 e;
	int			 rc = -1;

	memset(&e, 0, sizeof(e));
	sub.reason[0] = '\0';
	if (lseek(sv->dfd, 0, SEEK_SET) == -1)
		err_set(&e, ERR_IO, "temporary file: %s", strerror(errno));
	else if (sv->acct->auth == AUTH_OFF || sv->acct->queue ||
	    conf_password(sv->acct, &e) == 0) {
		memset(&sub, 0, sizeof(sub));
		sub.conf = &sv->conf;
		sub.acct = sv->acct;
		sub.env = &sv->env;
		sub.fullname = sv->o->fullname;
		sub.maildomain = sv->maildomain;
		sub.fqdn = sv->fqdn;
		/* the client hears of every failure in the reply */
		sub.errmode = ERRMODE_PRINT;
		/* the SMTP dot is consumed: only EOF ends the message */
		sub.ignoredots = 1;
		/* no queue: all recipients or none (see outcome()) */
		sv->env.whole = !sv->acct->queue;
		/* DESIGN.md: the messages share one smarthost connection */
		sub.keep = &sv->smarthost;
		rc = submit_message(sv->dfd, &sub, &e);
	}
	outcome(sv, rc, &e, sub.reason);
}

/*
 * DATA: 354, the text, then the message's fate as the reply.  Returns
 * -1 when the input ended before the final ".": nothing is sent.
 */
static int
cmd_data(struct server *sv, const char *arg)
{
	int	rc;

	if (*arg != '\0') {
		reply(sv, "501 5.5.4 Syntax: DATA");
		return 0;
	}
	if (!sv->inmail) {
		reply(sv, "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	if (sv->env.nrcpt == 0) {
		if (sv->tries > 0)
			reply(sv, "554 5.5.1 Error: no valid recipients");
		else
			reply(sv, "503 5.5.1 Error: need RCPT command");
		return 0;
	}
	sv->derr = 0;
	if (data_open(sv) == -1) {
		log_warnx("temporary file: %s", strerror(sv->derr));
		reply(sv, "451 4.3.0 Temporary file: %s", strerror(sv->derr));
		txn_reset(sv);
		return 0;
	}
	reply(sv, "354 End data with <CR><LF>.<CR><LF>");
	if ((rc = data_read(sv)) == 0) {
		data_flush(sv);
		if (sv->derr != 0) {
			log_warnx("temporary file: %s", strerror(sv->derr));
			reply(sv, "452 4.3.1 Temporary file: %s",
			    strerror(sv->derr));
		} else
			deliver(sv);
	}
	close(sv->dfd);
	sv->dfd = -1;
	txn_reset(sv);
	return rc;
}

/* --- the session ------------------------------------------------------- */

static void
cmd_ehlo(struct server *sv, const char *arg, int extended)
{
	if (*arg == '\0') {
		reply(sv, "501 5.5.4 Syntax: %s hostname", extended ? "EHLO" :
		    "HELO");
		return;
	}
	txn_reset(sv);	/* RFC 5321 section 4.1.4 */
	sv->greeted = 1;
	if (!extended) {
		reply(sv, "250 %s", sv->name);
		return;
	}
	reply(sv, "250-%s", sv->name);
	reply(sv, "250-PIPELINING");
	reply(sv, "250-SIZE");
	reply(sv, "250-8BITMIME");
	reply(sv, "250 ENHANCEDSTATUSCODES");
}

/*
 * One command line.  Returns -1 when the input ended inside DATA, 1
 * after QUIT, 0 otherwise.
 */
static int
command(struct server *sv, const char *line, size_t len)
{
	static const char *const unimpl[] = {
		"AUTH", "BDAT", "ETRN", "EXPN", "SAML", "SEND", "SOML",
		"STARTTLS", "TURN", NULL
	};
	const char	*arg;
	size_t		 vlen, i;

	if (memchr(line, '\0', len) != NULL || strchr(line, '\r') != NULL) {
		reply(sv, "500 5.5.2 Error: NUL or CR in a command");
		return 0;
	}
	vlen = strcspn(line, " ");
	arg = line + vlen + strspn(line + vlen, " ");
#define VERB(v)	(vlen == strlen(v) && strncasecmp(line, (v), vlen) == 0)
	if (vlen == 0)
		reply(sv, "500 5.5.2 Error: bad syntax");
	else if (VERB("EHLO") || VERB("HELO"))
		cmd_ehlo(sv, arg, VERB("EHLO"));
	else if (VERB("MAIL"))
		cmd_mail(sv, line);
	else if (VERB("RCPT"))
		cmd_rcpt(sv, line);
	else if (VERB("DATA"))
		return cmd_data(sv, arg);
	else if (VERB("RSET")) {
		if (*arg != '\0')
			reply(sv, "501 5.5.4 Syntax: RSET");
		else {
			txn_reset(sv);
			reply(sv, "250 2.0.0 Ok");
		}
	} else if (VERB("NOOP"))
		reply(sv, "250 2.0.0 Ok");
	else if (VERB("VRFY")) {
		/* RFC 5321 section 3.5.3: we cannot know, RCPT will tell */
		if (*arg == '\0')
			reply(sv, "501 5.5.4 Syntax: VRFY address");
		else
			reply(sv, "252 2.0.0 Cannot VRFY user, but will "
			    "accept the message and attempt delivery");
	} else if (VERB("HELP"))
		reply(sv, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
		    "RSET NOOP VRFY HELP QUIT; see postern(8)");
	else if (VERB("QUIT")) {
		reply(sv, "221 2.0.0 Bye");
		return 1;
	} else {
		for (i = 0; unimpl[i] != NULL; i++)
			if (VERB(unimpl[i]))
				break;
		if (unimpl[i] != NULL)
			reply(sv, "502 5.5.1 Error: command not implemented");
		else
			reply(sv, "500 5.5.2 Error: command not recognized");
	}
#undef VERB
	return 0;
}

/*
 * The host's name, for EHLO and the greeting where an account has no
 * domain: not looked up (DNS) when every account has one.
 */
static char *
host_name(const struct conf *c)
{
	size_t	i;

	for (i = 0; i < c->nacct; i++)
		if (c->accts[i].domain == NULL)
			return util_fqdn();
	return xstrdup(c->nacct > 0 ? c->accts[0].domain : "localhost");
}

static void
server_free(struct server *sv)
{
	smtp_close(sv->smarthost);	/* QUIT, its 221 not awaited */
	txn_reset(sv);
	if (sv->dfd != -1)
		close(sv->dfd);
	free(sv->obuf);
	free(sv->fqdn);
	log_setup(NULL, -1, NULL, NULL);	/* conf's strings go now */
	conf_free(&sv->conf);
	free(sv);
}

/*
 * The session.  Returns 0 when the client ended it (QUIT, or EOF with no
 * message under way), -1 with e set when the configuration is unusable,
 * standard output failed, or the input ended inside a transaction (that
 * message is not sent).
 */
int
server_run(const struct server_opts *o, struct err *e)
{
	struct server	*sv;
	struct account	*a;
	struct err	 ign;
	char		 line[SRV_LINEMAX];
	size_t		 len;
	int		 rc = 0;

	sv = xcalloc(1, sizeof(*sv));
	sv->o = o;
	sv->dfd = -1;
	/* as in the sendmail mode (userconf.c): the same files, the same rights */
	rc = userconf_load(&sv->conf, o->conffile, USERCONF_KEYS, e);
	if (rc == -1) {
		/* the client may retry once the administrator fixed it */
		reply(sv, "421 4.3.5 Configuration error, try again later");
		out_flush(sv);
		free(sv->obuf);
		free(sv->fqdn);
		free(sv);
		return -1;
	}
	sv->fqdn = host_name(&sv->conf);
	/* our name: what we say in EHLO to the smarthost */
	memset(&ign, 0, sizeof(ign));
	a = conf_account(&sv->conf, o->account, NULL, &ign);
	if (a == NULL && o->account != NULL) {
		/* -a names no usable account: no message could go */
		*e = ign;
		reply(sv, "421 4.3.5 Configuration error, try again later");
		out_flush(sv);
		server_free(sv);
		return -1;
	}
	sv->name = a != NULL && a->domain != NULL ? a->domain : sv->fqdn;
	reply(sv, "220 %s ESMTP postern", sv->name);
	while (rc == 0 && !sv->werr) {
		switch (in_line(sv, line, &len)) {
		case LINE_EOF:
			if (sv->inmail)
				rc = -1;
			else
				rc = 1;
			break;
		case LINE_TOOLONG:
			reply(sv, "500 5.5.2 Error: line too long");
			break;
		case LINE_OK:
			rc = command(sv, line, len);
			break;
		}
	}
	out_flush(sv);
	if (sv->werr)
		rc = err_set(e, ERR_IO, "writing to standard output: %s",
		    strerror(sv->werr));
	else if (rc == -1)
		err_set(e, ERR_PROTO, "the input ended inside a transaction: "
		    "that message was not sent");
	server_free(sv);
	return rc == -1 ? -1 : 0;
}
