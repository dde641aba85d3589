/*
 * One message from its bytes to the smarthost: the path that the sendmail
 * mode (main.c) and -bs (server.c) share, so that a message typed on the
 * command line and one given over SMTP on standard input are prepared and
 * delivered alike.  The caller builds the envelope (from argv, or from
 * MAIL and RCPT) and turns the outcome, each recipient's state, into an
 * exit status or an SMTP reply.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

/*
 * -t: the recipients from the headers join those of the command line
 * (Postfix behaviour), each once.
 */
static void
merge_rcpts(struct envelope *env, const struct msg *m)
{
	size_t	i, k;

	env->rcpts = xreallocarray(env->rcpts, env->nrcpt + m->nrcpt + 1,
	    sizeof(*env->rcpts));
	for (i = 0; i < m->nrcpt; i++) {
		for (k = 0; k < env->nrcpt; k++)
			if (addr_same(env->rcpts[k].addr, m->rcpts[i]))
				break;
		if (k < env->nrcpt)
			continue;
		memset(&env->rcpts[env->nrcpt], 0, sizeof(*env->rcpts));
		env->rcpts[env->nrcpt++].addr = xstrdup(m->rcpts[i]);
	}
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
	int			 rc = -1;

	memset(&qs, 0, sizeof(qs));
	qs.fd = -1;
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	s->reason[0] = '\0';
	memset(&mo, 0, sizeof(mo));
	mo.ignoredots = s->ignoredots;
	mo.extract = s->extract;
	mo.sender = s->env->from;
	mo.fullname = s->fullname != NULL ? s->fullname : a->from_full_name;
	mo.maildomain = s->maildomain;
	mo.set_from = (enum msg_set)a->set_from;
	mo.set_date = (enum msg_set)a->set_date;
	mo.set_msgid = (enum msg_set)a->set_msgid;
	mo.keep_bcc = !a->remove_bcc;
	mo.undisclosed = a->undisclosed;
	mo.now = time(NULL);
	if (a->queue) {
		if (queue_open(&qs, a, e) == -1)
			goto out;
		mo.outfd = qs.fd;
	}
	if (msg_read(fd, &mo, &m, e) == -1)
		goto out;
	qs.fd = -1;	/* the message owns the spool file from here on */
	merge_rcpts(s->env, &m);
	if (s->env->nrcpt == 0)
		err_set(e, ERR_USAGE, "no recipients specified");
	else if (a->queue) {
		rc = queue_submit(&qs, s->conf, a, s->env, &m, s->errmode,
		    s->fqdn, e);
		(void)strlcpy(s->reason, qs.reason, sizeof(s->reason));
	} else
		rc = smtp_send(a, s->env, &m, a->domain != NULL ? a->domain :
		    s->fqdn, e);
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
	memset(env, 0, sizeof(*env));
}
