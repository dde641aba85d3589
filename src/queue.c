/*
 * The durable queue (DESIGN.md, "The queue"): submission, delivery
 * attempts, queue runs, mailq and the administration commands.  The files
 * themselves are spool.c's; DSNs are built by dsn.c.
 *
 * Who delivers whose mail (postern(8), "Privileges"): root and the queue
 * runner deliver every message; any other caller only those it
 * submitted, so that no process another user controls (its stderr, its
 * signals, its scheduling) ever holds, or holds the lock of, a message
 * that is not its caller's.  Others wait for the runner.
 *
 * A runner that finds a message locked skips it.  A recipient the
 * smarthost accepted is marked "sent" before anything else happens, and
 * is never sent again; the one window left open is the one RFC 1047
 * describes (a connection lost after "." before its reply, or a crash
 * between the 250 and the rewrite): a duplicate, never a loss.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define QUEUE_FLUSHSECS	30		/* the flush after a submission */


/* A queue run, or the delivery part of a submission. */
struct qctx {
	struct conf		*conf;
	const char		*dir;
	const char		*fqdn;
	time_t			 now;
	time_t			 deadline;	/* 0: none */
	int			 interactive;	/* a submission: the caller hears */
	int			 keep;		/* s stays open after the run */
	int			 smtp;		/* ... through -bs, not an exit */
	struct session		*s;
	const struct account	*sa;		/* the account of s */
	int			 sdown;		/* sa could not be reached */
	struct err		 serr;		/* why */
	char			**extra;	/* ids queued during the run */
	size_t			 nextra;
	int			 sent, deferred, failed;
	char			 relay[320];	/* of the last attempt */
	struct reply		 final;		/* its reply to the data */
};
/* --- submission -------------------------------------------------------- */

/* Can the caller (with the spool group) write a's queue directory? */
int
queue_writable(const struct account *a, struct err *e)
{
	const char	*dir = conf_queuedir(a);
	int		 rc = 0;

	priv_hold();
	/* AT_EACCESS: the effective group (the setgid one) counts. */
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == -1)
		rc = err_set(e, ERR_CANTCREAT, "spool directory %s is not "
		    "writable: %s", dir, strerror(errno));
	priv_drop();
	return rc;
}

/*
 * With -C the group is dropped: the message is the caller's, under a
 * configuration the system did not choose, and a later run of the system
 * queue would deliver it through the system's smarthost.  So it never
 * enters the system spool, whoever the caller is (root too).
 */
static int
system_spool(const char *dir)
{
	struct stat	 a, b;

	if (!priv_revoked())
		return 0;
	if (strcmp(dir, SPOOLDIR) == 0)
		return 1;
	return stat(dir, &a) == 0 && stat(SPOOLDIR, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The configuration a message belongs to: its file's real path. */
static char *
conf_of(const struct conf *c)
{
	char	buf[PATH_MAX];

	return xstrdup(c->path == NULL ? "" : realpath(c->path, buf) != NULL ?
	    buf : c->path);
}

/*
 * Start a submission: check that the spool is writable (exit 73 naming
 * it, before stdin is read), create tmp.ID.msg and lock it.  The message
 * is then read into q->fd.
 */
int
queue_open(struct qsub *q, const struct account *a, struct err *e)
{
	const char	*dir = conf_queuedir(a);

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->dir = xstrdup(dir);
	scratch_dir(dir);	/* the message is in the spool: so is its scratch */
	if (queue_writable(a, e) == -1)
		return -1;
	if (system_spool(dir))
		return err_set(e, ERR_CANTCREAT, "a message submitted with -C "
		    "may not enter the system spool %s: set queue_dir in the "
		    "configuration file", dir);
	if ((q->fd = spool_create(dir, q->id, sizeof(q->id))) == -1) {
		spool_error(e, dir, "creating the message file");
		if (e->cls == ERR_IO)
			e->cls = ERR_CANTCREAT;
		return -1;
	}
	if (flock(q->fd, LOCK_EX | LOCK_NB) == -1)
		return err_set(e, ERR_OS, "flock: %s", strerror(errno));
	return 0;
}

/* Give up a submission that was not committed: no partial file stays. */
void
queue_abort(struct qsub *q)
{
	char	*path;

	if (q->dir != NULL && !q->committed && q->id[0] != '\0') {
		path = spool_path(q->dir, "tmp.", q->id, "msg");
		priv_hold();
		(void)unlink(path);
		priv_drop();
		free(path);
		path = spool_path(q->dir, "tmp.", q->id, "env");
		priv_hold();
		(void)unlink(path);
		priv_drop();
		free(path);
	}
	if (q->fd != -1)
		close(q->fd);
	q->fd = -1;
	free(q->dir);
	q->dir = NULL;
}

/* The queue entry of a new submission. */
static void
qent_make(struct qent *q, const char *id, const struct conf *c,
    const struct account *a, const struct envelope *env, const struct msg *m,
    enum errmode em)
{
	size_t	i;

	memset(q, 0, sizeof(*q));
	(void)strlcpy(q->id, id, sizeof(q->id));
	q->conf = conf_of(c);
	q->cflag = priv_revoked();
	q->account = xstrdup(a->name);
	q->from = xstrdup(env->from);
	q->notify = env->dsn_notify != NULL ? xstrdup(env->dsn_notify) : NULL;
	q->ret = env->dsn_ret != NULL ? xstrdup(env->dsn_ret) : NULL;
	q->envid = env->envid != NULL ? spool_clean(env->envid) : NULL;
	q->msgid = m->msgid[0] != '\0' ? spool_clean(m->msgid) : NULL;
	q->errmode = em;
	q->uid = (long long)getuid();
	q->created = q->next = time(NULL);
	q->size = m->size;
	q->eightbit = m->eightbit;
	q->maxline = (long long)m->maxline;
	q->rcpts = xcalloc(env->nrcpt, sizeof(*q->rcpts));
	for (i = 0; i < env->nrcpt; i++)
		q->rcpts[i].addr = xstrdup(env->rcpts[i].addr);
	q->nrcpt = env->nrcpt;
}

/* --- delivery ---------------------------------------------------------- */

static const struct account *
find_account(struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nacct; i++)
		if (strcmp(c->accts[i].name, name) == 0)
			return &c->accts[i];
	return NULL;
}

/* The next attempt: retry_min, doubling per attempt, at most retry_max. */
static long long
backoff(const struct account *a, int attempts)
{
	long long	d = a->retry_min;
	int		i;

	for (i = 1; i < attempts && d < a->retry_max; i++)
		d *= 2;
	return d < a->retry_max ? d : a->retry_max;
}

static int
pending(const struct qent *q)
{
	size_t	i, n = 0;

	for (i = 0; i < q->nrcpt; i++)
		n += q->rcpts[i].state == Q_PENDING;
	return (int)n;
}

static void
rcpt_set(struct qrcpt *r, enum qstate st, int code, const char *text)
{
	r->state = st;
	r->code = code;
	free(r->text);
	r->text = text != NULL ? spool_clean(text) : NULL;
}

/* Is this failure about the message itself (then it is final)? */
static int
message_refused(enum errclass cls)
{
	return cls == ERR_UNAVAIL || cls == ERR_NOUSER || cls == ERR_DATA;
}

/* Make sure ctx has a session with account a; 0 if so. */
static int
session_for(struct qctx *ctx, const struct account *a, struct err *e)
{
	/*
	 * Never NULL (process() falls back on the first account); said for
	 * the analyzer, which cannot see it through ctx->sa == a.
	 */
	if (a == NULL)
		return err_set(e, ERR_SOFTWARE, "no account for the message");
	if (ctx->s != NULL && ctx->sa == a && smtp_usable(ctx->s))
		return 0;
	if (ctx->sa == a && ctx->sdown) {
		*e = ctx->serr;
		return -1;
	}
	smtp_close(ctx->s);
	ctx->s = NULL;
	ctx->sa = a;
	ctx->sdown = 0;
	if (conf_password((struct account *)a, e) == -1 ||
	    (ctx->s = smtp_open(a, a->domain != NULL ? a->domain : ctx->fqdn,
	    e)) == NULL) {
		ctx->sdown = 1;
		ctx->serr = *e;
		return -1;
	}
	return 0;
}

/*
 * One attempt at the pending recipients of q over ctx's session.  The
 * recipients' states are updated in q; returns 0, or -1 with e when the
 * transaction failed as a whole.
 */
static int
attempt(struct qctx *ctx, const struct account *a, struct qent *q, int fd,
    int more, struct err *e)
{
	struct envelope	 env;
	struct msg	 m;
	size_t		 i, k;
	int		 rc;

	/* Until settle() recorded the outcome; the callers release it. */
	log_hold();
	ctx->relay[0] = '\0';
	memset(&ctx->final, 0, sizeof(ctx->final));
	q->last = (long long)time(NULL);
	if (session_for(ctx, a, e) == -1) {
		/* A 5xx greeting or EHLO refuses every message. */
		for (i = 0; i < q->nrcpt; i++)
			if (q->rcpts[i].state == Q_PENDING &&
			    message_refused(e->cls))
				rcpt_set(&q->rcpts[i], Q_FAILED, 0, e->msg);
		return -1;
	}
	memset(&env, 0, sizeof(env));
	env.from = q->from;
	env.dsn_notify = q->notify;
	env.dsn_ret = q->ret;
	env.envid = q->envid;
	env.rcpts = xcalloc(q->nrcpt, sizeof(*env.rcpts));
	for (i = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].state == Q_PENDING)
			env.rcpts[env.nrcpt++].addr = q->rcpts[i].addr;
	memset(&m, 0, sizeof(m));
	m.fd = fd;
	m.size = q->size;
	m.eightbit = q->eightbit;
	m.maxline = (size_t)q->maxline;
	rc = smtp_deliver(ctx->s, &env, &m, more, e);
	if (rc == 0)
		spool_crash("after-dot");
	(void)strlcpy(ctx->relay, env.relay, sizeof(ctx->relay));
	ctx->final = env.final;
	for (i = 0, k = 0; i < q->nrcpt; i++) {
		struct rcpt *r;

		if (q->rcpts[i].state != Q_PENDING)
			continue;
		r = &env.rcpts[k++];
		if (r->state == RCPT_OK && rc == 0)
			rcpt_set(&q->rcpts[i], Q_SENT, r->reply.code,
			    r->reply.text);
		else if (r->state == RCPT_PERMFAIL)
			rcpt_set(&q->rcpts[i], Q_FAILED, r->reply.code,
			    r->reply.text);
		else if (rc == -1 && message_refused(e->cls))
			rcpt_set(&q->rcpts[i], Q_FAILED, 0, e->msg);
		else if (r->state == RCPT_TEMPFAIL)
			rcpt_set(&q->rcpts[i], Q_PENDING, r->reply.code,
			    r->reply.text);
	}
	free(env.rcpts);
	return rc;
}

/*
 * Queue a DSN about the failed recipients of q, to its sender; a null
 * sender (a DSN itself) gets none, the postmaster does (RFC 3464 section
 * 2, RFC 5321 section 4.5.5).  A DSN about a DSN is only logged.
 */
static void
bounce(struct qctx *ctx, const struct qent *q, int fd, int expired)
{
	struct qent	 d, f;
	struct err	 e;
	char		*to, *text;
	size_t		 len, i;

	/* Only the failures nobody heard of: one notice per failure. */
	f = *q;
	f.rcpts = xcalloc(q->nrcpt, sizeof(*f.rcpts));
	for (i = 0, f.nrcpt = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].state == Q_FAILED && !q->rcpts[i].told)
			f.rcpts[f.nrcpt++] = q->rcpts[i];
	if (f.nrcpt == 0) {
		free(f.rcpts);
		return;
	}
	q = &f;
	if (q->dsn) {
		free(f.rcpts);
		log_mail(LOG_WARNING, "%s: a DSN could not be delivered; "
		    "dropped", q->id);
		return;
	}
	if (*q->from != '\0')
		to = xstrdup(q->from);
	else
		xasprintf(&to, "postmaster@%s", ctx->fqdn);
	memset(&d, 0, sizeof(d));
	text = dsn_make(q, fd, to, ctx->fqdn, ctx->now, expired, &len);
	d.conf = q->conf != NULL ? xstrdup(q->conf) : NULL;
	d.cflag = q->cflag;
	d.account = xstrdup(q->account);
	d.from = xstrdup("");
	d.dsn = 1;
	d.uid = q->uid;
	d.created = d.next = ctx->now;
	d.maxline = 998;
	d.rcpts = xcalloc(1, sizeof(*d.rcpts));
	d.rcpts[0].addr = to;
	d.nrcpt = 1;
	if (spool_put(ctx->dir, &d, text, len, &e) == -1)
		log_warnx("%s: could not queue the DSN to <%s>: %s", q->id, to,
		    e.msg);
	else {
		log_mail(LOG_INFO, "%s: DSN %s queued to <%s>", q->id, d.id,
		    to);
		ctx->extra = xreallocarray(ctx->extra, ctx->nextra + 1,
		    sizeof(*ctx->extra));
		ctx->extra[ctx->nextra++] = xstrdup(d.id);
	}
	free(text);
	spool_free(&d);
	free(f.rcpts);
}

/*
 * After an attempt: remove q when no recipient is pending (bouncing the
 * failed ones unless the caller hears of them), else schedule the next
 * attempt.  Returns 0, or -1 when the spool could not be updated.
 */
static int
settle(struct qctx *ctx, const struct account *a, struct qent *q, int fd,
    const char *why, struct err *e)
{
	size_t	i;
	int	failed = 0;

	for (i = 0; i < q->nrcpt; i++) {
		failed += q->rcpts[i].state == Q_FAILED;
		/*
		 * The caller of a submission hears of a refusal through the
		 * exit status and stderr: never bounced again.  A -bs client
		 * does not (the reply to its dot is 250): a later run's DSN
		 * names it.
		 */
		if (q->rcpts[i].state == Q_FAILED && ctx->interactive &&
		    !ctx->smtp && q->errmode != ERRMODE_MAIL)
			q->rcpts[i].told = 1;
	}
	if (pending(q) == 0) {
		if (failed > 0 && (!ctx->interactive ||
		    q->errmode == ERRMODE_MAIL))
			bounce(ctx, q, fd, 0);
		if (failed)
			ctx->failed++;
		else
			ctx->sent++;
		return spool_remove(ctx->dir, q->id, 0, e);
	}
	q->attempts++;
	q->next = (long long)time(NULL) + backoff(a, q->attempts);
	/* Due again when it expires at the latest: then it is bounced. */
	if (q->next > q->created + a->lifetime)
		q->next = q->created + a->lifetime;
	free(q->error);
	q->error = spool_clean(why);
	ctx->deferred++;
	return spool_write(ctx->dir, q, e);
}

/* The reason a message stays queued, for the caller and the log. */
static void
deferral(const struct qent *q, int rc, const struct err *de, char *buf,
    size_t size)
{
	size_t	i;

	if (rc == -1) {
		(void)strlcpy(buf, de->msg, size);
		return;
	}
	for (i = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].state == Q_PENDING) {
			(void)snprintf(buf, size, "<%s>: %d %s",
			    q->rcpts[i].addr, q->rcpts[i].code,
			    q->rcpts[i].text != NULL ? q->rcpts[i].text : "");
			return;
		}
	buf[0] = '\0';
}

/*
 * A software error cannot succeed on a later try as it is: the message
 * is held (mailq says so, --release tries it again), never removed.
 */
static void
hold_if_hopeless(struct qent *q, int rc, const struct err *de)
{
	if (rc == -1 && de->cls == ERR_SOFTWARE)
		q->held = 1;
}

/* Fill env (rcpts from q, nrcpt set) with the fate of each recipient. */
static void
rcpt_states(const struct qent *q, struct envelope *env)
{
	size_t	i;

	for (i = 0; i < q->nrcpt && i < env->nrcpt; i++) {
		struct rcpt *r = &env->rcpts[i];

		/* Code 0: refused with the message, which the error says. */
		r->state = q->rcpts[i].state == Q_SENT ? RCPT_OK :
		    q->rcpts[i].state == Q_FAILED ? (q->rcpts[i].code != 0 ?
		    RCPT_PERMFAIL : RCPT_PENDING) : RCPT_TEMPFAIL;
		r->reply.code = q->rcpts[i].code;
		(void)strlcpy(r->reply.text, q->rcpts[i].text != NULL ?
		    q->rcpts[i].text : "", sizeof(r->reply.text));
	}
}

/*
 * The summary line of an attempt of a queue run or a flush (a
 * submission's own is the caller's, submit_log()), once its outcome is
 * in the spool: the real relay and the server's reply.
 */
static void
attempt_log(struct qctx *ctx, const struct qent *q, int rc,
    const struct err *de, const char *why)
{
	struct envelope	 env;
	struct msg	 m;
	struct err	 le;
	size_t		 i;

	memset(&env, 0, sizeof(env));
	memset(&m, 0, sizeof(m));
	m.size = (off_t)q->size;
	if (q->msgid != NULL)
		(void)strlcpy(m.msgid, q->msgid, sizeof(m.msgid));
	env.from = q->from;
	env.rcpts = xcalloc(q->nrcpt, sizeof(*env.rcpts));
	for (i = 0; i < q->nrcpt; i++)
		env.rcpts[i].addr = q->rcpts[i].addr;
	env.nrcpt = q->nrcpt;
	rcpt_states(q, &env);
	(void)strlcpy(env.relay, ctx->relay, sizeof(env.relay));
	env.final = ctx->final;
	le = *de;
	if (pending(q) > 0) {
		le.cls = ERR_TEMP;
		(void)strlcpy(le.msg, why, sizeof(le.msg));
	}
	submit_log(&env, &m, rc == -1 || pending(q) > 0, &le, q->id);
	free(env.rcpts);
}

/*
 * Try one locked message (fd) now; update the spool.  Expired messages
 * are bounced without another attempt.
 */
static int
process(struct qctx *ctx, struct qent *q, int fd, int more, struct err *e)
{
	const struct account	*a;
	struct err		 de;
	char			 why[ERR_MSGLEN];
	size_t			 i;
	int			 rc;

	if ((a = find_account(ctx->conf, q->account)) == NULL &&
	    (a = find_account(ctx->conf, "default")) == NULL)
		a = &ctx->conf->accts[0];
	memset(&de, 0, sizeof(de));
	if (a->host == NULL) {
		rc = err_set(&de, ERR_CONFIG, "account %s has no host",
		    a->name);
		(void)strlcpy(why, de.msg, sizeof(why));
		goto record;
	}
	if (ctx->now >= q->created + a->lifetime) {
		for (i = 0; i < q->nrcpt; i++)
			if (q->rcpts[i].state == Q_PENDING)
				rcpt_set(&q->rcpts[i], Q_FAILED,
				    q->rcpts[i].code, q->error != NULL ?
				    q->error : "expired");
		bounce(ctx, q, fd, 1);
		log_mail(LOG_INFO, "%s: expired", q->id);
		ctx->failed++;
		return spool_remove(ctx->dir, q->id, 0, e);
	}
	rc = attempt(ctx, a, q, fd, more, &de);
	if (rc == -1 && de.cls == ERR_TLSPOLICY)
		log_warnx("%s: TLS policy not met, the message stays queued: "
		    "%s", q->id, de.msg);
	deferral(q, rc, &de, why, sizeof(why));
	hold_if_hopeless(q, rc, &de);
record:
	if (settle(ctx, a, q, fd, why, e) == -1)
		return -1;
	attempt_log(ctx, q, rc, &de, why);
	return 0;
}

/* --- queue runs -------------------------------------------------------- */

static int
item_cmp(const void *a, const void *b)
{
	const struct qitem	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->account, y->account)) != 0)
		return c;
	return strcmp(x->id, y->id);
}

static int
selected(const struct qent *q, const struct qsel *sel, time_t now)
{
	size_t	i;

	if (q->held)
		return 0;
	if (sel == NULL)
		return q->next <= now;
	if (sel->id != NULL && strcasecmp(sel->id, q->id) != 0)
		return 0;
	if (sel->sender != NULL && strcasestr(q->from, sel->sender) == NULL)
		return 0;
	if (sel->rcpt != NULL) {
		for (i = 0; i < q->nrcpt; i++)
			if (q->rcpts[i].state == Q_PENDING &&
			    strcasestr(q->rcpts[i].addr, sel->rcpt) != NULL)
				break;
		if (i == q->nrcpt)
			return 0;
	}
	/* Naming a message (or -qf) means "now", as with sendmail. */
	return sel->force || sel->id != NULL || sel->rcpt != NULL ||
	    sel->sender != NULL || q->next <= now;
}

/*
 * The messages in dir, as ids with their account, sorted by account:
 * those sel selects (sel NULL: those due).  Leftovers of crashes are
 * swept on the way when sweep_too.
 */
static int
scan(const char *dir, const struct qsel *sel, time_t now, int sweep_too,
    struct qitem **out, size_t *n, struct err *e)
{
	struct qent	 q;
	size_t		 i, k = 0;

	if (spool_ids(dir, now, sweep_too, out, n, e) == -1)
		return -1;
	if (sweep_too)
		tlscache_sweep(dir, now);
	for (i = 0; i < *n; i++) {
		free((*out)[i].account);
		(*out)[i].account = NULL;
		if (spool_read(dir, (*out)[i].id, &q) == -1)
			continue;
		if ((priv_trusted() || q.uid == (long long)getuid()) &&
		    selected(&q, sel, now)) {
			if (k != i)
				memcpy((*out)[k].id, (*out)[i].id,
				    sizeof((*out)[k].id));
			(*out)[k++].account = xstrdup(q.account);
		}
		spool_free(&q);
	}
	*n = k;
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), item_cmp);
	return 0;
}

/*
 * A run delivers only the messages of the configuration it loaded (a
 * version 1 message, which does not say, goes with any).
 */
static int
ours(const struct qctx *ctx, const struct qent *q)
{
	char	*mine;
	int	 rc;

	if (q->conf == NULL)
		return 1;
	mine = conf_of(ctx->conf);
	rc = strcmp(mine, q->conf) == 0;
	free(mine);
	if (!rc)
		log_debug("%s: queued under %s, not %s: skipped", q->id,
		    q->conf, ctx->conf->path);
	return rc;
}

/*
 * Lock, re-read, and process message id.  0 when done or skipped (locked
 * by another process, or gone).
 */
static int
run_one(struct qctx *ctx, const char *id, int more, struct err *e)
{
	struct qent	q;
	int		fd, rc;

	if ((fd = spool_lock(ctx->dir, id)) == -1)
		return 0;
	if (spool_read(ctx->dir, id, &q) == -1) {
		close(fd);
		return 0;
	}
	if (!ours(ctx, &q)) {
		spool_free(&q);
		close(fd);
		return 0;
	}
	rc = process(ctx, &q, fd, more, e);
	log_release();
	spool_free(&q);
	close(fd);
	return rc;
}

static void
ctx_free(struct qctx *ctx)
{
	size_t	i;

	smtp_close(ctx->s);
	ctx->s = NULL;
	for (i = 0; i < ctx->nextra; i++)
		free(ctx->extra[i]);
	free(ctx->extra);
	ctx->extra = NULL;
	ctx->nextra = 0;
}

/*
 * Deliver the items of account acct (or all when NULL) in order over as
 * few connections as possible; stop at the deadline.
 */
static int
run_items(struct qctx *ctx, const struct qitem *it, size_t n, struct err *e)
{
	size_t	i;
	int	more;

	for (i = 0; i < n; i++) {
		if (ctx->deadline != 0 && time(NULL) >= ctx->deadline)
			break;
		/* postern -q30m was told to stop: the rest waits queued. */
		if (interval_stopping())
			break;
		if (i > 0)
			spool_crash("between-messages");
		more = (i + 1 < n && strcmp(it[i + 1].account,
		    it[i].account) == 0) || (ctx->keep && i + 1 == n);
		if (run_one(ctx, it[i].id, more, e) == -1)
			return -1;
		if (!more) {
			smtp_close(ctx->s);
			ctx->s = NULL;
			ctx->sa = NULL;
		}
	}
	return 0;
}

/* Deliver the DSNs this run queued, as a run of their own. */
static int
run_extra(struct qctx *ctx, struct err *e)
{
	struct qitem	*it;
	struct qent	 q;
	size_t		 i, n = 0;
	int		 rc;

	while (ctx->nextra > 0) {
		it = xcalloc(ctx->nextra, sizeof(*it));
		for (i = 0, n = 0; i < ctx->nextra; i++) {
			if (spool_read(ctx->dir, ctx->extra[i], &q) == 0) {
				(void)strlcpy(it[n].id, q.id, sizeof(it[n].id));
				it[n++].account = xstrdup(q.account);
				spool_free(&q);
			}
			free(ctx->extra[i]);
		}
		ctx->nextra = 0;
		if (n > 1)
			qsort(it, n, sizeof(*it), item_cmp);
		rc = run_items(ctx, it, n, e);
		spool_items_free(it, n);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * postern -q: deliver what is due (or what sel selects), one connection
 * per account, DSNs for what expired or was refused.
 */
int
queue_run(struct conf *c, const struct account *a, const struct qsel *sel,
    const char *fqdn, struct err *e)
{
	struct qctx	 ctx;
	struct qitem	*it;
	size_t		 n;
	int		 rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = c;
	ctx.dir = conf_queuedir(a);
	ctx.fqdn = fqdn;
	ctx.now = time(NULL);
	scratch_dir(ctx.dir);
	if (scan(ctx.dir, sel, ctx.now, priv_trusted(), &it, &n, e) == -1)
		return -1;
	rc = run_items(&ctx, it, n, e);
	spool_items_free(it, n);
	if (rc == 0)
		rc = run_extra(&ctx, e);
	log_debug("queue run: %d sent, %d deferred, %d failed", ctx.sent,
	    ctx.deferred, ctx.failed);
	ctx_free(&ctx);
	return rc;
}

/* Will this deferral fix itself?  Not when it is the configuration's. */
static int
lasting(int rc, const struct err *de)
{
	return rc == -1 && (de->cls == ERR_TLSPOLICY ||
	    de->cls == ERR_NOPERM || de->cls == ERR_CONFIG ||
	    (de->cls == ERR_TEMP && strstr(de->msg,
	    gai_strerror(EAI_NONAME)) != NULL));
}

/*
 * What the caller of a submission is told when the message stays
 * queued: "queued ID: REASON (next try in 5m)", every time, tty or not
 * (cron mails stderr, PHP logs it).
 */
static void
notice(struct qsub *sub, const struct account *a, const struct qent *q,
    int rc, const struct err *de)
{
	char		 when[32], who[256] = "";
	long long	 d = q->next - (long long)time(NULL);

	if (d < 60)
		(void)snprintf(when, sizeof(when), "%llds", d > 0 ? d : 0);
	else if ((d = (d + 30) / 60) % 60 != 0)
		(void)snprintf(when, sizeof(when), "%lldm", d);
	else
		(void)snprintf(when, sizeof(when), "%lldh", d / 60);
	if (rc == -1 && de->cls == ERR_NOPERM)
		(void)snprintf(who, sizeof(who), "account %s%s%s%s: ",
		    a->name, a->user != NULL ? " (user " : "",
		    a->user != NULL ? a->user : "", a->user != NULL ? ")" :
		    "");
	if (q->held)
		(void)snprintf(sub->notice, sizeof(sub->notice), "held %s: "
		    "%s%s (it cannot succeed as it is; postern --release %s "
		    "once fixed)", q->id, who, sub->reason, q->id);
	else
		(void)snprintf(sub->notice, sizeof(sub->notice), "queued %s: "
		    "%s%s (next try in %s%s)", q->id, who, sub->reason, when,
		    lasting(rc, de) ? "; this will not fix itself: check the "
		    "configuration" : "");
}

/* Report each recipient's fate in env, and where it went. */
static void
to_envelope(const struct qctx *ctx, const struct qent *q,
    struct envelope *env)
{
	rcpt_states(q, env);
	(void)strlcpy(env->relay, ctx->relay, sizeof(env->relay));
	env->final = ctx->final;
}

/*
 * Commit the submission (the message is in q->fd), then try it at once.
 * Returns 0 when every recipient was delivered, queued or (-oem) bounced;
 * q->reason then says why it stays queued, if it does, and env's
 * recipients say what became of each.  -1 with e when the message could
 * not be queued, or was refused as a whole (it is then removed).  When
 * the smarthost took it, what else is due goes over the same connection,
 * for at most QUEUE_FLUSHSECS.
 */
int
queue_submit(struct qsub *sub, struct conf *c, const struct account *a,
    struct envelope *env, const struct msg *m, enum errmode em,
    const char *fqdn, struct err *e)
{
	struct qctx	 ctx;
	struct qent	 q;
	struct qitem	*it = NULL;
	struct err	 de;
	size_t		 n = 0, i;
	int		 rc, more = 0, flush;

	qent_make(&q, sub->id, c, a, env, m, em);
	if (spool_commit(sub->dir, &q, m->fd, e) == -1) {
		spool_free(&q);
		return -1;
	}
	sub->committed = 1;
	spool_crash("after-rename");
	if (sub->queue_only) {
		/* -odq, -odd: the next queue run delivers it. */
		(void)strlcpy(sub->reason, "queued by -odq, not sent yet",
		    sizeof(sub->reason));
		spool_free(&q);
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = c;
	ctx.dir = sub->dir;
	ctx.fqdn = fqdn;
	ctx.now = time(NULL);
	ctx.interactive = 1;
	/* -bs: the connection of the previous message, if it can serve */
	if (sub->keep != NULL && *sub->keep != NULL) {
		if (smtp_reusable(*sub->keep, a)) {
			ctx.s = *sub->keep;
			ctx.sa = a;
		} else
			smtp_close(*sub->keep);
		*sub->keep = NULL;
	}
	ctx.keep = sub->keep != NULL;
	ctx.smtp = sub->smtp;
	/*
	 * Others due for the same smarthost: keep the connection open.  Only
	 * worth a look when the smarthost answers.
	 */
	if (session_for(&ctx, a, &de) == 0 &&
	    scan(ctx.dir, NULL, ctx.now, 0, &it, &n, &de) == 0)
		for (i = 0; i < n; i++)
			if (strcmp(it[i].id, q.id) != 0 &&
			    strcmp(it[i].account, a->name) == 0)
				more = 1;
	spool_items_free(it, n);
	flush = more;
	more = more || ctx.keep;
	memset(&de, 0, sizeof(de));
	rc = attempt(&ctx, a, &q, m->fd, more, &de);
	if (rc == -1 && ctx.keep && smtp_retryable(ctx.s)) {
		/* Nobody has it: again at once, on a new connection. */
		log_debug("%s; trying again on a new connection", de.msg);
		memset(&de, 0, sizeof(de));
		rc = attempt(&ctx, a, &q, m->fd, more, &de);
	}
	to_envelope(&ctx, &q, env);
	/*
	 * Committed: only the smarthost's permanent refusal ends it here.
	 * Any other error (a refused login, a protocol error, a local one)
	 * leaves it queued, or held, and the caller is told (sub->notice).
	 */
	deferral(&q, rc, &de, sub->reason, sizeof(sub->reason));
	hold_if_hopeless(&q, rc, &de);
	if (settle(&ctx, a, &q, m->fd, sub->reason, e) == -1) {
		rc = -1;
		goto out;
	}
	log_release();
	if (pending(&q) > 0) {
		notice(sub, a, &q, rc, &de);
		rc = 0;
	} else if (rc == -1 && message_refused(de.cls) &&
	    em != ERRMODE_MAIL) {
		*e = de;	/* refused as a whole: the exit status says */
		goto out;
	} else {
		sub->reason[0] = '\0';
		rc = 0;
	}
	if (rc == 0 && flush && ctx.s != NULL && smtp_usable(ctx.s)) {
		ctx.interactive = 0;
		ctx.deadline = time(NULL) + QUEUE_FLUSHSECS;
		if (scan(ctx.dir, NULL, time(NULL), 0, &it, &n, &de) == 0) {
			size_t k = 0;

			for (i = 0; i < n; i++)
				if (strcmp(it[i].account, a->name) == 0)
					it[k++] = it[i];
				else
					free(it[i].account);
			(void)run_items(&ctx, it, k, &de);
			spool_items_free(it, k);
		}
	}
	if (rc == 0 && ctx.nextra > 0) {
		ctx.interactive = 0;
		(void)run_extra(&ctx, &de);
	}
out:
	if (sub->keep != NULL) {
		*sub->keep = ctx.s;
		ctx.s = NULL;
	}
	log_release();
	ctx_free(&ctx);
	spool_free(&q);
	return rc;
}
