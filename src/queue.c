/*
 * The durable queue (DESIGN.md, "The queue"; the format is in postern(8),
 * "QUEUE FILES").  A message is two files in the spool: ID.msg, the
 * prepared message, written once and never copied, and ID.env, its
 * envelope and per-recipient state, small, replaced by write-new + fsync
 * + rename on every change.  ID.env is the commit point: a message is
 * queued exactly when its ID.env exists.  Submission writes tmp.ID.msg
 * and tmp.ID.env, fsyncs both, renames ID.msg then ID.env into place and
 * fsyncs the directory, all before the first network connection.
 *
 * ID.msg carries the lock (flock, LOCK_EX | LOCK_NB): it is never
 * renamed after the commit, so every process locks the same inode.  A
 * runner that finds a message locked skips it; one that gets the lock
 * reads ID.env again, since the holder may have finished it meanwhile.
 * A recipient the smarthost accepted is marked "sent" before anything
 * else happens, and is never sent again; the one window left open is the
 * one RFC 1047 describes (a connection lost after "." before its reply,
 * or a crash between the 250 and the rewrite): a duplicate, never a loss.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define QUEUE_VERSION	"postern-queue 1"
#define QUEUE_IDLEN	16		/* hex digits */
#define QUEUE_ENVMAX	(1024 * 1024)	/* a larger ID.env is corrupt */
#define QUEUE_STALE	(60 * 60)	/* leftover temporary files */
#define QUEUE_FLUSHSECS	30		/* the flush after a submission */
#define QUEUE_HDRMAX	(64 * 1024)	/* original headers in a DSN */

enum qstate {
	Q_PENDING,	/* not delivered yet */
	Q_SENT,		/* accepted by the smarthost: never sent again */
	Q_FAILED	/* refused for good, or expired */
};

static const char *const qstates[] = { "pending", "sent", "failed" };

struct qrcpt {
	char		*addr;
	enum qstate	 state;
	int		 code;		/* the last reply, 0: none */
	char		*text;
};

/* One queued message: the contents of ID.env. */
struct qent {
	char		 id[QUEUE_IDLEN + 1];
	char		*account;
	char		*from;		/* "" for the null sender */
	char		*notify, *ret, *envid;
	enum errmode	 errmode;
	int		 held;
	int		 dsn;		/* a DSN itself: never bounced */
	long long	 created, next;
	long long	 uid;		/* who submitted it */
	int		 attempts;
	char		*error;		/* the last error, or NULL */
	long long	 size;
	int		 eightbit;
	long long	 maxline;
	struct qrcpt	*rcpts;
	size_t		 nrcpt;
};

/* A queue run, or the delivery part of a submission. */
struct qctx {
	struct conf		*conf;
	const char		*dir;
	const char		*fqdn;
	time_t			 now;
	time_t			 deadline;	/* 0: none */
	int			 interactive;	/* a submission: the caller hears */
	int			 keep;		/* s stays open after the run */
	struct session		*s;
	const struct account	*sa;		/* the account of s */
	int			 sdown;		/* sa could not be reached */
	struct err		 serr;		/* why */
	char			**extra;	/* ids queued during the run */
	size_t			 nextra;
	int			 sent, deferred, failed;
};

/* --- crash points of the test build -------------------------------- */

#ifdef POSTERN_TEST
/*
 * POSTERN_CRASH=NAME[:N] kills the process with SIGKILL the N-th time
 * (default: the first) it passes the point NAME.  Test builds only.
 */
static void
crash_point(const char *name)
{
	static int	 hits;
	const char	*v, *errstr;
	size_t		 n;
	long long	 want = 1;

	if ((v = getenv("POSTERN_CRASH")) == NULL)
		return;
	n = strcspn(v, ":");
	if (strlen(name) != n || strncmp(v, name, n) != 0)
		return;
	if (v[n] == ':' && ((want = strtonum(v + n + 1, 1, 1000000,
	    &errstr)), errstr != NULL))
		return;
	if (++hits == want)
		(void)kill(getpid(), SIGKILL);
}
#else
#define crash_point(name)	do { } while (0)
#endif

/* --- small helpers --------------------------------------------------- */

static int
valid_id(const char *id)
{
	return strlen(id) == QUEUE_IDLEN &&
	    strspn(id, "0123456789ABCDEF") == QUEUE_IDLEN;
}

/* Errors of the spool: a full disk is temporary (exit 75). */
static int
spool_err(struct err *e, const char *dir, const char *what)
{
	int	saved = errno;

	return err_set(e, saved == ENOSPC || saved == EDQUOT ? ERR_TEMP :
	    saved == EACCES || saved == EPERM || saved == ENOENT ||
	    saved == EROFS ? ERR_CANTCREAT : ERR_IO, "spool %s: %s: %s", dir,
	    what, strerror(saved));
}

static int
fsync_dir(const char *dir, struct err *e)
{
	int	fd;

	priv_hold();
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	priv_drop();
	if (fd == -1)
		return spool_err(e, dir, "open");
	if (fsync(fd) == -1) {
		spool_err(e, dir, "fsync");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static char *
qpath(const char *dir, const char *prefix, const char *id, const char *ext)
{
	char	*p;

	xasprintf(&p, "%s/%s%s.%s", dir, prefix, id, ext);
	return p;
}

/* Open dir/ID.ext for reading, with the spool group held only for it. */
static int
qopen(const char *dir, const char *id, const char *ext)
{
	char	*path = qpath(dir, "", id, ext);
	int	 fd, saved;

	priv_hold();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	saved = errno;
	priv_drop();
	free(path);
	errno = saved;
	return fd;
}

/* Control characters in reply texts would break the line format. */
static char *
clean(const char *s)
{
	char	*d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

static void
qent_free(struct qent *q)
{
	size_t	i;

	for (i = 0; i < q->nrcpt; i++) {
		free(q->rcpts[i].addr);
		free(q->rcpts[i].text);
	}
	free(q->rcpts);
	free(q->account);
	free(q->from);
	free(q->notify);
	free(q->ret);
	free(q->envid);
	free(q->error);
	memset(q, 0, sizeof(*q));
}

/* --- ID.env: writing --------------------------------------------------- */

static char *
env_text(const struct qent *q, size_t *len)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 i;

	if ((fp = open_memstream(&buf, len)) == NULL) {
		log_warnx("out of memory");
		exit(71);
	}
	fprintf(fp, "%s\naccount %s\nuid %lld\ncreated %lld\nnext %lld\n"
	    "attempts %d\nheld %d\ndsn %d\nerrmode %d\nsize %lld\n"
	    "eightbit %d\nmaxline %lld\nfrom %s\n", QUEUE_VERSION, q->account,
	    q->uid, q->created, q->next, q->attempts, q->held, q->dsn,
	    (int)q->errmode, q->size, q->eightbit, q->maxline,
	    *q->from == '\0' ? "<>" : q->from);
	if (q->notify != NULL)
		fprintf(fp, "notify %s\n", q->notify);
	if (q->ret != NULL)
		fprintf(fp, "ret %s\n", q->ret);
	if (q->envid != NULL)
		fprintf(fp, "envid %s\n", q->envid);
	if (q->error != NULL)
		fprintf(fp, "error %s\n", q->error);
	for (i = 0; i < q->nrcpt; i++)
		fprintf(fp, "rcpt %s %d %s %s\n", qstates[q->rcpts[i].state],
		    q->rcpts[i].code, q->rcpts[i].addr,
		    q->rcpts[i].text != NULL ? q->rcpts[i].text : "");
	fprintf(fp, "end\n");
	fclose(fp);
	return buf;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Write q as dir/prefixID.env: a new file, fsync'd, renamed over the old
 * one.  With commit, the renames of the submission happen here: ID.msg
 * first, then ID.env (the commit point), then the directory is fsync'd.
 */
static int
env_write(const char *dir, const struct qent *q, int commit, struct err *e)
{
	char	*tmp, *dst, *text, *mtmp = NULL, *mdst = NULL;
	size_t	 len;
	int	 fd, rc = -1;

	tmp = qpath(dir, "tmp.", q->id, "env");
	dst = qpath(dir, "", q->id, "env");
	text = env_text(q, &len);
	priv_hold();
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0660)) == -1) {
		spool_err(e, dir, "creating the envelope file");
		goto out;
	}
	(void)fchmod(fd, 0660);
	if (write_all(fd, text, len / 2) == -1)
		goto fail;
	crash_point("mid-rewrite");
	if (write_all(fd, text + len / 2, len - len / 2) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (commit) {
		mtmp = qpath(dir, "tmp.", q->id, "msg");
		mdst = qpath(dir, "", q->id, "msg");
		if (rename(mtmp, mdst) == -1)
			goto fail;
	}
	if (rename(tmp, dst) == -1)
		goto fail;
	priv_drop();
	rc = fsync_dir(dir, e);
	goto done;
fail:
	spool_err(e, dir, "writing the envelope file");
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
out:
	priv_drop();
done:
	free(text);
	free(tmp);
	free(dst);
	free(mtmp);
	free(mdst);
	return rc;
}

/* --- ID.env: reading --------------------------------------------------- */

static int
num(const char *v, long long max, long long *out)
{
	const char	*errstr;

	*out = strtonum(v, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

static int
rcpt_line(struct qent *q, char *v)
{
	struct qrcpt	*r;
	char		*state, *code, *addr;
	long long	 c;
	int		 i;

	state = strsep(&v, " ");
	code = strsep(&v, " ");
	addr = strsep(&v, " ");
	if (v == NULL || code == NULL || addr == NULL || *addr == '\0' ||
	    num(code, 599, &c) == -1)
		return -1;
	for (i = 0; i < 3; i++)
		if (strcmp(state, qstates[i]) == 0)
			break;
	if (i == 3)
		return -1;
	q->rcpts = xreallocarray(q->rcpts, q->nrcpt + 1, sizeof(*q->rcpts));
	r = &q->rcpts[q->nrcpt++];
	r->addr = xstrdup(addr);
	r->state = (enum qstate)i;
	r->code = (int)c;
	r->text = *v == '\0' ? NULL : xstrdup(v);
	return 0;
}

static int
env_line(struct qent *q, char *line)
{
	char		*k = line, *v;
	const char	*c;
	long long	 n;

	/*
	 * A control character has no business in any field: it could reach
	 * an SMTP command or mailq's output.  Such a file is corrupt.
	 */
	for (c = line; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	if ((v = strchr(line, ' ')) == NULL)
		return -1;
	*v++ = '\0';
	if (strcmp(k, "rcpt") == 0)
		return rcpt_line(q, v);
	if (strcmp(k, "account") == 0 && q->account == NULL)
		q->account = xstrdup(v);
	else if (strcmp(k, "from") == 0 && q->from == NULL)
		q->from = xstrdup(strcmp(v, "<>") == 0 ? "" : v);
	else if (strcmp(k, "notify") == 0 && q->notify == NULL)
		q->notify = xstrdup(v);
	else if (strcmp(k, "ret") == 0 && q->ret == NULL)
		q->ret = xstrdup(v);
	else if (strcmp(k, "envid") == 0 && q->envid == NULL)
		q->envid = xstrdup(v);
	else if (strcmp(k, "error") == 0 && q->error == NULL)
		q->error = xstrdup(v);
	else if (num(v, LLONG_MAX, &n) == -1)
		return -1;
	else if (strcmp(k, "created") == 0)
		q->created = n;
	else if (strcmp(k, "uid") == 0)
		q->uid = n;
	else if (strcmp(k, "next") == 0)
		q->next = n;
	else if (strcmp(k, "attempts") == 0 && n <= INT_MAX)
		q->attempts = (int)n;
	else if (strcmp(k, "held") == 0)
		q->held = n != 0;
	else if (strcmp(k, "dsn") == 0)
		q->dsn = n != 0;
	else if (strcmp(k, "errmode") == 0 && n <= ERRMODE_QUIET)
		q->errmode = (enum errmode)n;
	else if (strcmp(k, "size") == 0)
		q->size = n;
	else if (strcmp(k, "eightbit") == 0)
		q->eightbit = n != 0;
	else if (strcmp(k, "maxline") == 0)
		q->maxline = n;
	else
		return -1;
	return 0;
}

/*
 * Read dir/ID.env.  Returns 0, or -1 with errno ENOENT when the message
 * is gone, EINVAL when the file is not a complete queue file.
 */
static int
env_read(const char *dir, const char *id, struct qent *q)
{
	char	*buf, *p, *line;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, ended = 0, rc = 0;

	memset(q, 0, sizeof(*q));
	if ((fd = qopen(dir, id, "env")) == -1)
		return -1;
	buf = xcalloc(1, QUEUE_ENVMAX + 1);
	while (len < QUEUE_ENVMAX && (n = read(fd, buf + len,
	    QUEUE_ENVMAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	(void)strlcpy(q->id, id, sizeof(q->id));
	p = buf;
	if (len == QUEUE_ENVMAX || memchr(buf, '\0', len) != NULL)
		rc = -1;
	line = strsep(&p, "\n");
	if (strcmp(line, QUEUE_VERSION) != 0)
		rc = -1;
	while (rc == 0 && p != NULL && (line = strsep(&p, "\n")) != NULL) {
		if (strcmp(line, "end") == 0) {
			ended = 1;
			break;
		}
		rc = env_line(q, line);
	}
	free(buf);
	if (rc == -1 || !ended || q->account == NULL || q->from == NULL ||
	    q->nrcpt == 0) {
		qent_free(q);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* --- locking ----------------------------------------------------------- */

/*
 * Open and lock dir/ID.msg.  -1 with errno EWOULDBLOCK when another
 * process has it, ENOENT when it is gone.
 */
static int
msg_lock(const char *dir, const char *id)
{
	int	 fd, saved;

	if ((fd = qopen(dir, id, "msg")) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Remove a message: ID.env first (the commit point), then ID.msg. */
static int
msg_remove(const char *dir, const char *id, struct err *e)
{
	char	*env, *msg;
	int	 rc = 0;

	env = qpath(dir, "", id, "env");
	msg = qpath(dir, "", id, "msg");
	priv_hold();
	if (unlink(env) == -1 && errno != ENOENT)
		rc = spool_err(e, dir, "removing a message");
	else if (unlink(msg) == -1 && errno != ENOENT)
		rc = spool_err(e, dir, "removing a message");
	priv_drop();
	if (rc == 0)
		rc = fsync_dir(dir, e);
	free(env);
	free(msg);
	return rc;
}

/* --- submission -------------------------------------------------------- */

/*
 * Start a submission: check that the spool is writable (exit 73 naming
 * it, before stdin is read), create tmp.ID.msg and lock it.  The message
 * is then read into q->fd.
 */
int
queue_open(struct qsub *q, const struct account *a, struct err *e)
{
	const char	*dir = conf_queuedir(a);
	char		*path;
	uint32_t	 r;
	int		 tries;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->dir = xstrdup(dir);
	priv_hold();
	/* AT_EACCESS: the effective group (the setgid one) counts. */
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == -1) {
		err_set(e, ERR_CANTCREAT, "spool directory %s is not "
		    "writable: %s", dir, strerror(errno));
		priv_drop();
		return -1;
	}
	for (tries = 0; tries < 100 && q->fd == -1; tries++) {
		arc4random_buf(&r, sizeof(r));
		(void)snprintf(q->id, sizeof(q->id), "%08llX%08X",
		    (unsigned long long)time(NULL) & 0xffffffffULL,
		    (unsigned int)r);
		path = qpath(dir, "tmp.", q->id, "msg");
		q->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0660);
		free(path);
		if (q->fd == -1 && errno != EEXIST)
			break;
	}
	if (q->fd == -1) {
		spool_err(e, dir, "creating the message file");
		if (e->cls == ERR_IO)
			e->cls = ERR_CANTCREAT;
		priv_drop();
		return -1;
	}
	(void)fchmod(q->fd, 0660);
	priv_drop();
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
		path = qpath(q->dir, "tmp.", q->id, "msg");
		priv_hold();
		(void)unlink(path);
		priv_drop();
		free(path);
		path = qpath(q->dir, "tmp.", q->id, "env");
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
qent_make(struct qent *q, const char *id, const struct account *a,
    const struct envelope *env, const struct msg *m, enum errmode em)
{
	size_t	i;

	memset(q, 0, sizeof(*q));
	(void)strlcpy(q->id, id, sizeof(q->id));
	q->account = xstrdup(a->name);
	q->from = xstrdup(env->from);
	q->notify = env->dsn_notify != NULL ? xstrdup(env->dsn_notify) : NULL;
	q->ret = env->dsn_ret != NULL ? xstrdup(env->dsn_ret) : NULL;
	q->envid = env->envid != NULL ? clean(env->envid) : NULL;
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
	r->text = text != NULL ? clean(text) : NULL;
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
		crash_point("after-dot");
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

/* --- DSNs (RFC 3464) --------------------------------------------------- */

static void
rfc5322_date(char *buf, size_t size, time_t t)
{
	struct tm	tm;

	(void)localtime_r(&t, &tm);
	(void)strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* The original header block, CRLF line ends, at most QUEUE_HDRMAX. */
static void
copy_headers(FILE *out, int fd)
{
	char	*buf, *end;
	ssize_t	 n;

	buf = xcalloc(1, QUEUE_HDRMAX + 1);
	if ((n = pread(fd, buf, QUEUE_HDRMAX, 0)) > 0) {
		/* The message file has no NUL: strstr sees all of it. */
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			n = end - buf + 2;
		else if ((end = memrchr(buf, '\n', (size_t)n)) != NULL)
			n = end - buf + 1;
		else
			n = 0;
		fwrite(buf, 1, (size_t)n, out);
	}
	free(buf);
}

/*
 * The Status of a failed recipient (RFC 3463): the server's enhanced
 * status code when its reply began with one, else 5.0.0.
 */
static const char *
status_code(const struct qrcpt *qr, char *buf, size_t size)
{
	const char	*t = qr->text;
	size_t		 n;

	if (qr->code >= 500 && t != NULL && t[0] == '5' && t[1] == '.' &&
	    (n = strspn(t + 2, "0123456789.")) >= 3 && n + 2 < size &&
	    (t[n + 2] == ' ' || t[n + 2] == '\0')) {
		memcpy(buf, t, n + 2);
		buf[n + 2] = '\0';
		return buf;
	}
	return "5.0.0";
}

/*
 * A delivery status notification (RFC 3464: multipart/report;
 * report-type=delivery-status, RFC 6522) for the failed recipients of q,
 * with the original headers (text/rfc822-headers).
 */
static char *
dsn_text(const struct qctx *ctx, const struct qent *q, int fd,
    const char *to, int expired, size_t *len)
{
	FILE		*fp;
	char		*buf = NULL, date[64], boundary[64], st[16];
	uint32_t	 r[2];
	size_t		 i;

	arc4random_buf(r, sizeof(r));
	(void)snprintf(boundary, sizeof(boundary), "%08X%08X/%s", r[0], r[1],
	    ctx->fqdn);
	if ((fp = open_memstream(&buf, len)) == NULL) {
		log_warnx("out of memory");
		exit(71);
	}
	rfc5322_date(date, sizeof(date), ctx->now);
	fprintf(fp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\nMessage-ID: <%08X%08X.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    "\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is postern on %s.\r\n\r\nYour message %s could not be "
	    "delivered to the recipients below%s.\r\n\r\n", ctx->fqdn, to,
	    date, r[0], r[1], ctx->fqdn, boundary, boundary, ctx->fqdn, q->id,
	    expired ? ": it stayed in the queue for too long" : "");
	for (i = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].state == Q_FAILED)
			fprintf(fp, "<%s>: %s\r\n", q->rcpts[i].addr,
			    q->rcpts[i].text != NULL ? q->rcpts[i].text :
			    "refused");
	rfc5322_date(date, sizeof(date), (time_t)q->created);
	fprintf(fp, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\nX-Postern-Queue-ID: %s\r\n"
	    "Arrival-Date: %s\r\n", boundary, ctx->fqdn, q->id, date);
	rfc5322_date(date, sizeof(date), ctx->now);
	for (i = 0; i < q->nrcpt; i++) {
		const struct qrcpt *qr = &q->rcpts[i];

		if (qr->state != Q_FAILED)
			continue;
		fprintf(fp, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed"
		    "\r\nStatus: %s\r\n", qr->addr, expired ? "4.4.7" :
		    status_code(qr, st, sizeof(st)));
		if (qr->code >= 200)
			fprintf(fp, "Diagnostic-Code: smtp; %d %s\r\n",
			    qr->code, qr->text != NULL ? qr->text : "");
		fprintf(fp, "Last-Attempt-Date: %s\r\n", date);
	}
	fprintf(fp, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n",
	    boundary);
	copy_headers(fp, fd);
	fprintf(fp, "\r\n--%s--\r\n", boundary);
	fclose(fp);
	return buf;
}

/*
 * Queue a DSN about the failed recipients of q, to its sender; a null
 * sender (a DSN itself) gets none, the postmaster does (RFC 3464 section
 * 2, RFC 5321 section 4.5.5).  A DSN about a DSN is only logged.
 */
static void
bounce(struct qctx *ctx, const struct qent *q, int fd, int expired)
{
	struct qent	 d;
	struct err	 e;
	char		*to, *text, *path;
	size_t		 len;
	uint32_t	 r;
	int		 dfd, tries;

	if (q->dsn) {
		log_mail(LOG_WARNING, "%s: a DSN could not be delivered; "
		    "dropped", q->id);
		return;
	}
	if (*q->from != '\0')
		to = xstrdup(q->from);
	else
		xasprintf(&to, "postmaster@%s", ctx->fqdn);
	memset(&d, 0, sizeof(d));
	text = dsn_text(ctx, q, fd, to, expired, &len);
	d.account = xstrdup(q->account);
	d.from = xstrdup("");
	d.dsn = 1;
	d.created = d.next = ctx->now;
	d.size = (long long)len;
	d.maxline = 998;
	d.rcpts = xcalloc(1, sizeof(*d.rcpts));
	d.rcpts[0].addr = to;
	d.nrcpt = 1;
	dfd = -1;
	for (tries = 0; tries < 100 && dfd == -1; tries++) {
		arc4random_buf(&r, sizeof(r));
		(void)snprintf(d.id, sizeof(d.id), "%08llX%08X",
		    (unsigned long long)ctx->now & 0xffffffffULL,
		    (unsigned int)r);
		path = qpath(ctx->dir, "tmp.", d.id, "msg");
		priv_hold();
		dfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
		if (dfd != -1)
			(void)fchmod(dfd, 0660);
		priv_drop();
		free(path);
	}
	if (dfd == -1 || write_all(dfd, text, len) == -1 || fsync(dfd) == -1 ||
	    env_write(ctx->dir, &d, 1, &e) == -1)
		log_warnx("%s: could not queue the DSN to <%s>", q->id, to);
	else {
		log_mail(LOG_INFO, "%s: DSN %s queued to <%s>", q->id, d.id,
		    to);
		ctx->extra = xreallocarray(ctx->extra, ctx->nextra + 1,
		    sizeof(*ctx->extra));
		ctx->extra[ctx->nextra++] = xstrdup(d.id);
	}
	if (dfd != -1)
		close(dfd);
	free(text);
	qent_free(&d);
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
	int	failed = 0, sent = 0;

	for (i = 0; i < q->nrcpt; i++) {
		failed += q->rcpts[i].state == Q_FAILED;
		sent += q->rcpts[i].state == Q_SENT;
	}
	if (pending(q) == 0) {
		if (failed > 0 && (!ctx->interactive ||
		    q->errmode == ERRMODE_MAIL))
			bounce(ctx, q, fd, 0);
		log_mail(LOG_INFO, "%s: from=<%s> sent=%d failed=%d: removed",
		    q->id, q->from, sent, failed);
		if (failed)
			ctx->failed++;
		else
			ctx->sent++;
		return msg_remove(ctx->dir, q->id, e);
	}
	q->attempts++;
	q->next = (long long)time(NULL) + backoff(a, q->attempts);
	/* Due again when it expires at the latest: then it is bounced. */
	if (q->next > q->created + a->lifetime)
		q->next = q->created + a->lifetime;
	free(q->error);
	q->error = clean(why);
	ctx->deferred++;
	log_mail(LOG_INFO, "%s: from=<%s> deferred (attempt %d): %s", q->id,
	    q->from, q->attempts, why);
	return env_write(ctx->dir, q, 0, e);
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
	if (a->host == NULL)
		return settle(ctx, a, q, fd, "the account has no host", e);
	if (ctx->now >= q->created + a->lifetime) {
		for (i = 0; i < q->nrcpt; i++)
			if (q->rcpts[i].state == Q_PENDING)
				rcpt_set(&q->rcpts[i], Q_FAILED,
				    q->rcpts[i].code, q->error != NULL ?
				    q->error : "expired");
		bounce(ctx, q, fd, 1);
		log_mail(LOG_INFO, "%s: expired", q->id);
		ctx->failed++;
		return msg_remove(ctx->dir, q->id, e);
	}
	memset(&de, 0, sizeof(de));
	rc = attempt(ctx, a, q, fd, more, &de);
	if (rc == -1 && de.cls == ERR_TLSPOLICY)
		log_warnx("%s: TLS policy not met, the message stays queued: "
		    "%s", q->id, de.msg);
	deferral(q, rc, &de, why, sizeof(why));
	return settle(ctx, a, q, fd, why, e);
}

/* --- queue runs -------------------------------------------------------- */

struct qitem {
	char		 id[QUEUE_IDLEN + 1];
	char		*account;
};

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

/* Remove what a crash left behind, once it is an hour old and unlocked. */
static void
sweep(const char *dir, const char *name, time_t now)
{
	struct stat	 st;
	char		*path;
	int		 fd;

	xasprintf(&path, "%s/%s", dir, name);
	priv_hold();
	if (stat(path, &st) == 0 && st.st_mtime + QUEUE_STALE < now &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			log_mail(LOG_INFO, "removing the leftover %s", name);
			(void)unlink(path);
		}
		close(fd);
	}
	priv_drop();
	free(path);
}

/*
 * The ids of the committed messages in dir (those with an envelope), in
 * directory order, each with an empty account.  Leftovers of crashes are
 * swept on the way when sweep_too.
 */
static int
ids(const char *dir, time_t now, int sweep_too, struct qitem **out,
    size_t *n, struct err *e)
{
	DIR		*d;
	struct dirent	*de;
	char		 id[QUEUE_IDLEN + 1], *envp;
	size_t		 len;
	struct stat	 st;

	*out = NULL;
	*n = 0;
	priv_hold();
	d = opendir(dir);
	priv_drop();
	if (d == NULL)
		return spool_err(e, dir, "opendir");
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (sweep_too && strncmp(de->d_name, "tmp.", 4) == 0) {
			sweep(dir, de->d_name, now);
			continue;
		}
		if (len != QUEUE_IDLEN + 4 || de->d_name[QUEUE_IDLEN] != '.')
			continue;
		memcpy(id, de->d_name, QUEUE_IDLEN);
		id[QUEUE_IDLEN] = '\0';
		if (!valid_id(id))
			continue;
		if (strcmp(de->d_name + QUEUE_IDLEN, ".msg") == 0) {
			/* A data file without its envelope: never committed. */
			envp = qpath(dir, "", id, "env");
			priv_hold();
			if (sweep_too && stat(envp, &st) == -1 &&
			    errno == ENOENT) {
				priv_drop();
				sweep(dir, de->d_name, now);
			} else
				priv_drop();
			free(envp);
			continue;
		}
		if (strcmp(de->d_name + QUEUE_IDLEN, ".env") != 0)
			continue;
		if ((*n & (*n - 1)) == 0)	/* doubling */
			*out = xreallocarray(*out, 2 * *n + 1, sizeof(**out));
		(void)strlcpy((*out)[*n].id, id, sizeof((*out)[*n].id));
		(*out)[(*n)++].account = xstrdup("");
	}
	closedir(d);
	return 0;
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

	if (ids(dir, now, sweep_too, out, n, e) == -1)
		return -1;
	for (i = 0; i < *n; i++) {
		free((*out)[i].account);
		(*out)[i].account = NULL;
		if (env_read(dir, (*out)[i].id, &q) == -1)
			continue;
		if (selected(&q, sel, now)) {
			if (k != i)
				memcpy((*out)[k].id, (*out)[i].id,
				    sizeof((*out)[k].id));
			(*out)[k++].account = xstrdup(q.account);
		}
		qent_free(&q);
	}
	*n = k;
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), item_cmp);
	return 0;
}

static void
items_free(struct qitem *it, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(it[i].account);
	free(it);
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

	if ((fd = msg_lock(ctx->dir, id)) == -1)
		return 0;
	if (env_read(ctx->dir, id, &q) == -1) {
		close(fd);
		return 0;
	}
	rc = process(ctx, &q, fd, more, e);
	qent_free(&q);
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
		if (i > 0)
			crash_point("between-messages");
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
			if (env_read(ctx->dir, ctx->extra[i], &q) == 0) {
				(void)strlcpy(it[n].id, q.id, sizeof(it[n].id));
				it[n++].account = xstrdup(q.account);
				qent_free(&q);
			}
			free(ctx->extra[i]);
		}
		ctx->nextra = 0;
		if (n > 1)
			qsort(it, n, sizeof(*it), item_cmp);
		rc = run_items(ctx, it, n, e);
		items_free(it, n);
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
	if (scan(ctx.dir, sel, ctx.now, 1, &it, &n, e) == -1)
		return -1;
	rc = run_items(&ctx, it, n, e);
	items_free(it, n);
	if (rc == 0)
		rc = run_extra(&ctx, e);
	log_debug("queue run: %d sent, %d deferred, %d failed", ctx.sent,
	    ctx.deferred, ctx.failed);
	ctx_free(&ctx);
	return rc;
}

/* Report each recipient's fate in env, as the client left it. */
static void
to_envelope(const struct qent *q, struct envelope *env)
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

	if (fsync(m->fd) == -1)
		return spool_err(e, sub->dir, "fsync");
	qent_make(&q, sub->id, a, env, m, em);
	if (env_write(sub->dir, &q, 1, e) == -1) {
		qent_free(&q);
		return -1;
	}
	sub->committed = 1;
	crash_point("after-rename");
	if (sub->queue_only) {
		/* -odq, -odd: the next queue run delivers it. */
		(void)strlcpy(sub->reason, "queued by -odq, not sent yet",
		    sizeof(sub->reason));
		qent_free(&q);
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
	items_free(it, n);
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
	to_envelope(&q, env);
	if (rc == -1 && !message_refused(de.cls) && de.cls != ERR_TEMP &&
	    de.cls != ERR_TLSPOLICY) {
		/* Not the smarthost's word on the message: the caller's. */
		*e = de;
		(void)msg_remove(ctx.dir, q.id, &de);
		goto out;
	}
	if (rc == -1 && de.cls == ERR_TLSPOLICY)
		log_warnx("TLS policy not met; the message stays queued: %s",
		    de.msg);
	deferral(&q, rc, &de, sub->reason, sizeof(sub->reason));
	if (settle(&ctx, a, &q, m->fd, sub->reason, e) == -1) {
		rc = -1;
		goto out;
	}
	if (pending(&q) > 0)
		rc = 0;
	else if (rc == -1 && message_refused(de.cls) &&
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
			items_free(it, k);
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
	ctx_free(&ctx);
	qent_free(&q);
	return rc;
}

/* --- mailq and administration -------------------------------------- */

static void
list_one(FILE *fp, const struct qent *q)
{
	char		 date[64];
	struct tm	 tm;
	time_t		 t = (time_t)q->created;
	size_t		 i;

	(void)localtime_r(&t, &tm);
	(void)strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm);
	fprintf(fp, "%-16s %9lld %s  <%s>%s\n", q->id, q->size, date, q->from,
	    q->held ? " (held)" : "");
	if (q->error != NULL)
		fprintf(fp, "    (%s)\n", q->error);
	for (i = 0; i < q->nrcpt; i++)
		fprintf(fp, "    <%s> %s\n", q->rcpts[i].addr,
		    q->rcpts[i].state == Q_PENDING && q->attempts > 0 ?
		    "deferred" : qstates[q->rcpts[i].state]);
}

/* mailq, -bp: every message, oldest first. */
int
queue_list(const struct account *a, FILE *fp, struct err *e)
{
	struct qitem	*it;
	struct qent	 q;
	size_t		 n, i, shown = 0;
	const char	*dir = conf_queuedir(a);

	if (ids(dir, 0, 0, &it, &n, e) == -1)
		return -1;
	/* Ids begin with the time of submission: oldest first. */
	if (n > 1)
		qsort(it, n, sizeof(*it), item_cmp);
	for (i = 0; i < n; i++) {
		if (env_read(dir, it[i].id, &q) == -1)
			continue;
		list_one(fp, &q);
		qent_free(&q);
		shown++;
	}
	items_free(it, n);
	if (shown == 0)
		fprintf(fp, "Mail queue is empty\n");
	else
		fprintf(fp, "-- %zu message%s\n", shown, shown == 1 ? "" : "s");
	return 0;
}

/* --delete, --hold, --release ID. */
int
queue_admin(const struct account *a, const char *what, const char *id,
    struct err *e)
{
	const char	*dir = conf_queuedir(a);
	struct qent	 q;
	int		 fd, rc;

	if (!valid_id(id))
		return err_set(e, ERR_USAGE, "%s: not a queue id", id);
	if ((fd = msg_lock(dir, id)) == -1) {
		if (errno == EWOULDBLOCK)
			return err_set(e, ERR_TEMP, "%s: being delivered "
			    "right now; try again", id);
		return err_set(e, ERR_USAGE, "%s: no such message", id);
	}
	if (env_read(dir, id, &q) == -1) {
		close(fd);
		return err_set(e, ERR_USAGE, "%s: no such message", id);
	}
	/* The spool is shared: only root and the submitter may touch it. */
	if (getuid() != 0 && (long long)getuid() != q.uid) {
		qent_free(&q);
		close(fd);
		return err_set(e, ERR_NOPERM, "%s: not your message", id);
	}
	if (strcmp(what, "delete") == 0) {
		rc = msg_remove(dir, id, e);
		log_mail(LOG_INFO, "%s: deleted by uid %lu", id,
		    (unsigned long)getuid());
	} else {
		q.held = strcmp(what, "hold") == 0;
		if (!q.held)
			q.next = time(NULL);
		rc = env_write(dir, &q, 0, e);
	}
	qent_free(&q);
	close(fd);
	return rc;
}
