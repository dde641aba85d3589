/*
 * One message from its bytes to the smarthost: the path that the sendmail
 * mode (main.c) and -bs (server.c) share, so that a message typed on the
 * command line and one given over SMTP on standard input are prepared and
 * delivered alike.  The caller builds the envelope (from argv, or from
 * MAIL and RCPT) and turns the outcome, each recipient's state, into an
 * exit status or an SMTP reply.
 */
#include "config.h"

#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

/*
 * Add a recipient unless it is there already.  The index of those seen
 * (built on first use from what the envelope holds) keeps this linear
 * for 100,000 recipients.
 */
void
submit_add_rcpt(struct envelope *env, const char *addr)
{
	size_t	k;

	if (env->seen == NULL) {
		env->seen = xcalloc(1, sizeof(*env->seen));
		for (k = 0; k < env->nrcpt; k++)
			(void)addrset_add(env->seen, env->rcpts[k].addr);
	}
	if (!addrset_add(env->seen, addr))
		return;
	if (env->nrcpt >= env->rcap) {
		env->rcap = env->nrcpt < 8 ? 16 : 2 * env->nrcpt;
		env->rcpts = xreallocarray(env->rcpts, env->rcap,
		    sizeof(*env->rcpts));
	}
	memset(&env->rcpts[env->nrcpt], 0, sizeof(*env->rcpts));
	env->rcpts[env->nrcpt++].addr = xstrdup(addr);
}

/* "login@maildomain" for the user running postern. */
static char *
default_sender(const char *fqdn)
{
	struct passwd	*pw;
	char		*s;

	if ((pw = getpwuid(getuid())) == NULL)
		xasprintf(&s, "uid%lu@%s", (unsigned long)getuid(), fqdn);
	else
		xasprintf(&s, "%s@%s", pw->pw_name, fqdn);
	return s;
}

/*
 * The envelope sender (*out): the one given (-f, -r, or MAIL FROM in
 * -bs; NULL: none) unless the account says allow_from_override off,
 * else the account's from, else login@maildomain.  A bare local name is
 * qualified with maildomain (DESIGN.md).  The command line and -bs share
 * this, so that neither can send as someone the account does not allow.
 */
int
submit_sender(const struct account *a, const char *given,
    const char *maildomain, char **out, struct err *e)
{
	char	*q;

	if (given != NULL && !a->from_override && !a->auto_from)
		log_debug("allow_from_override off: sender %s is ignored",
		    given);
	/* msmtp's order: auto_from, the one given, from (conf.c). */
	if (conf_from(a, given, out, e) == -1)
		return -1;
	if (*out == NULL)
		*out = default_sender(maildomain);
	if (**out != '\0' && addr_valid_arg(*out, e) == -1)
		return -1;
	q = addr_qualify(*out, maildomain);
	free(*out);
	*out = q;
	return 0;
}

/*
 * -t: the recipients from the headers join those of the command line
 * (Postfix behaviour), each once.
 */
static void
merge_rcpts(struct envelope *env, const struct msg *m)
{
	size_t	i;

	for (i = 0; i < m->nrcpt; i++)
		submit_add_rcpt(env, m->rcpts[i]);
}

/*
 * What the summary line says about the message: sent when every
 * recipient was accepted, deferred when what failed may work later,
 * bounced when something was refused for good (the caller got an error
 * status, or with -oem the queue sends a DSN).
 */
void
submit_log(const struct envelope *env, const struct msg *m, int failed,
    const struct err *e, const char *queueid)
{
	struct logmsg		 l;
	char			 why[ERR_MSGLEN + SMTP_TEXTLEN];
	size_t			 i, ok = 0, perm = 0;
	const struct rcpt	*bad = NULL;

	memset(&l, 0, sizeof(l));
	l.queueid = queueid;
	l.msgid = m->msgid;
	l.from = env->from;
	l.env = env;
	l.size = m->size;
	l.relay = env->relay;
	l.delay = -1;
	for (i = 0; i < env->nrcpt; i++) {
		if (env->rcpts[i].state == RCPT_OK)
			ok++;
		else if (bad == NULL || env->rcpts[i].state == RCPT_PERMFAIL)
			bad = &env->rcpts[i];
		perm += env->rcpts[i].state == RCPT_PERMFAIL;
	}
	if (failed) {
		l.status = e->cls == ERR_TEMP ? "deferred" : "bounced";
		l.reply = e->msg;
	} else if (ok == env->nrcpt) {
		l.status = "sent";
		(void)snprintf(why, sizeof(why), "%d %s", env->final.code,
		    env->final.text);
		l.reply = why;
	} else {
		l.status = perm > 0 ? "bounced" : "deferred";
		(void)snprintf(why, sizeof(why), "%zu of %zu accepted; <%s>: "
		    "%d %s", ok, env->nrcpt, bad->addr, bad->reply.code,
		    bad->reply.text);
		l.reply = why;
	}
	log_message(&l);
}

/*
 * The recipients after the aliases (DESIGN.md: envelope recipients go
 * through them first): a bare local name is looked up, and qualified
 * with maildomain when no alias has it; the file is read only when a
 * bare name is there.  Each address once.
 */
static int
expand_aliases(const struct account *a, const char *domain,
    struct envelope *env, struct err *e)
{
	struct aliases	 al, *alp = NULL;
	struct rcpt	*old = env->rcpts;
	size_t		 n = env->nrcpt, i, k, nout;
	char		**out;
	int		 rc = 0;

	for (i = 0; i < n; i++)
		if (strchr(old[i].addr, '@') == NULL)
			break;
	if (i == n)
		return 0;
	if (a->aliases != NULL) {
		if (alias_load(&al, a->aliases, e) == -1)
			return -1;
		alp = &al;
	}
	env->rcpts = NULL;
	env->nrcpt = 0;
	env->rcap = 0;
	if (env->seen != NULL) {
		addrset_free(env->seen);
		free(env->seen);
		env->seen = NULL;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		int bare = strchr(old[i].addr, '@') == NULL;

		if ((rc = alias_expand(bare ? alp : NULL, old[i].addr, domain,
		    &out, &nout, e)) == -1)
			break;
		for (k = 0; k < nout; k++) {
			if (rc == 0 && (rc = addr_valid_arg(out[k], e)) == -1)
				e->cls = ERR_DATA;
			else if (rc == 0)
				submit_add_rcpt(env, out[k]);
			free(out[k]);
		}
		free(out);
	}
	for (i = 0; i < n; i++)
		free(old[i].addr);
	free(old);
	if (alp != NULL)
		alias_free(alp);
	return rc;
}

/*
 * The preparation options an account asks for: the header fix-ups
 * (msmtp's set_*_header keys), the sender, its full name (-F, else
 * from_full_name, else GECOS) and the domain for bare names.
 */
void
submit_msgopts(struct msgopts *mo, const struct account *a,
    const char *sender, const char *fullname, const char *maildomain)
{
	memset(mo, 0, sizeof(*mo));
	mo->sender = sender;
	mo->fullname = fullname != NULL ? fullname : a->from_full_name;
	mo->maildomain = maildomain;
	mo->set_from = (enum msg_set)a->set_from;
	mo->set_date = (enum msg_set)a->set_date;
	mo->set_msgid = (enum msg_set)a->set_msgid;
	mo->keep_bcc = !a->remove_bcc;
	mo->undisclosed = a->undisclosed;
	mo->now = time(NULL);
}

/*
 * Without the queue, in a -bs session: over the connection kept from the
 * previous message when it is of the same account and still usable, else
 * a new one, which is then kept.  A message that found the kept
 * connection gone before any of it was sent (a 421, an idle timeout) is
 * tried once more on a new connection: nobody has it yet.
 */
static int
send_kept(struct submission *s, const struct msg *m, const char *helo,
    struct err *e)
{
	struct session	**sp = s->keep;
	size_t		  i;
	int		  rc;

	if (*sp != NULL && !smtp_reusable(*sp, s->acct)) {
		smtp_close(*sp);
		*sp = NULL;
	}
	if (*sp == NULL && (*sp = smtp_open(s->acct, helo, e)) == NULL)
		return -1;
	rc = smtp_deliver(*sp, s->env, m, 1, e);
	if (rc == -1 && smtp_retryable(*sp)) {
		log_debug("%s; trying again on a new connection", e->msg);
		smtp_close(*sp);
		for (i = 0; i < s->env->nrcpt; i++)
			s->env->rcpts[i].state = RCPT_PENDING;
		if ((*sp = smtp_open(s->acct, helo, e)) == NULL)
			return -1;
		rc = smtp_deliver(*sp, s->env, m, 1, e);
	}
	return rc;
}

/*
 * Read the message from fd, prepare it and deliver it to every recipient
 * of s->env: with the queue on (DESIGN.md, "The queue"), spool-first,
 * the spool file opened before fd is read so that an unwritable spool is
 * known first (73), then queue_submit() tries it at once and keeps what
 * is deferred; with the queue off, straight to the smarthost.  On return
 * each recipient's state says what became of it (RCPT_TEMPFAIL: queued,
 * with the queue on) and s->reason why some stays queued; -1 means the
 * message as a whole failed (e says why; some recipients may still
 * carry a state).
 */
int
submit_message(int fd, struct submission *s, struct err *e)
{
	const struct account	*a = s->acct;
	struct msgopts		 mo;
	struct msg		 m;
	struct qsub		 qs;
	const char		*helo;
	int			 rc = -1;

	memset(&qs, 0, sizeof(qs));
	qs.fd = -1;
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	s->reason[0] = '\0';
	submit_msgopts(&mo, a, s->env->from, s->fullname, s->maildomain);
	mo.ignoredots = s->ignoredots;
	mo.extract = s->extract;
	if (a->queue) {
		if (queue_open(&qs, a, e) == -1)
			goto out;
		qs.keep = s->keep;
		mo.outfd = qs.fd;
		qs.smtp = 1;	/* only -bs comes this way */
	}
	if (msg_read(fd, &mo, &m, e) == -1)
		goto out;
	qs.fd = -1;	/* the message owns the spool file from here on */
	merge_rcpts(s->env, &m);
	if (expand_aliases(a, s->maildomain, s->env, e) == -1)
		goto out;
	if (s->env->nrcpt == 0)
		err_set(e, ERR_USAGE, "no recipients specified");
	else if (a->queue) {
		rc = queue_submit(&qs, s->conf, a, s->env, &m, s->errmode,
		    s->fqdn, e);
		(void)strlcpy(s->reason, qs.reason, sizeof(s->reason));
		if (rc == 0 && s->reason[0] != '\0') {
			struct err q;

			err_set(&q, ERR_TEMP, "%s", s->reason);
			submit_log(s->env, &m, 1, &q, qs.id);
		} else
			submit_log(s->env, &m, rc == -1, e, qs.id);
	} else {
		helo = a->domain != NULL ? a->domain : s->fqdn;
		rc = s->keep != NULL ? send_kept(s, &m, helo, e) :
		    smtp_send(a, s->env, &m, helo, e);
		submit_log(s->env, &m, rc == -1, e, NULL);
	}
out:
	queue_abort(&qs);
	msg_close(&m);
	return rc;
}

void
submit_envelope_free(struct envelope *env)
{
	size_t	i;

	for (i = 0; i < env->nrcpt; i++)
		free(env->rcpts[i].addr);
	free(env->rcpts);
	free(env->from);
	free(env->dsn_notify);
	free(env->dsn_ret);
	free(env->envid);
	if (env->seen != NULL) {
		addrset_free(env->seen);
		free(env->seen);
	}
	memset(env, 0, sizeof(*env));
}
