/*
 * The spool's files (postern(8), "QUEUE FILES"): the format of one queued
 * message, and every file operation on the queue directory.  A message
 * is two files: ID.msg, the prepared message, written once and never
 * copied, and ID.env, its envelope and per-recipient state, small,
 * replaced by write-new + fsync + rename on every change.  ID.env is the
 * commit point: a message is queued exactly when its ID.env exists.
 * Submission writes tmp.ID.msg and tmp.ID.env, fsyncs both, renames
 * ID.msg then ID.env into place and fsyncs the directory, all before the
 * first network connection.
 *
 * ID.msg carries the lock (flock, LOCK_EX | LOCK_NB): it is never
 * renamed after the commit, so every process locks the same inode.  A
 * process that gets the lock reads ID.env again, since the holder may
 * have finished it meanwhile.  The spool group is held only around the
 * calls that touch the directory (priv.c).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define QUEUE_VERSION	"postern-queue 1"
#define QUEUE_ENVMAX	(1024 * 1024)	/* a larger ID.env is corrupt */
#define QUEUE_STALE	(60 * 60)	/* leftover temporary files */

const char *const spool_states[] = { "pending", "sent", "failed" };

/* --- crash points of the test build -------------------------------- */

#ifdef POSTERN_TEST
/*
 * POSTERN_CRASH=NAME[:N] kills the process with SIGKILL the N-th time
 * (default: the first) it passes the point NAME.  Test builds only.
 */
void
spool_crash(const char *name)
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
#endif

/* --- small helpers --------------------------------------------------- */

int
spool_valid_id(const char *id)
{
	return strlen(id) == QUEUE_IDLEN &&
	    strspn(id, "0123456789ABCDEF") == QUEUE_IDLEN;
}

/* Errors of the spool: a full disk is temporary (exit 75). */
int
spool_error(struct err *e, const char *dir, const char *what)
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
		return spool_error(e, dir, "open");
	if (fsync(fd) == -1) {
		spool_error(e, dir, "fsync");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

char *
spool_path(const char *dir, const char *prefix, const char *id, const char *ext)
{
	char	*p;

	xasprintf(&p, "%s/%s%s.%s", dir, prefix, id, ext);
	return p;
}

/* Open dir/ID.ext for reading, with the spool group held only for it. */
static int
qopen(const char *dir, const char *id, const char *ext)
{
	char	*path = spool_path(dir, "", id, ext);
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
char *
spool_clean(const char *s)
{
	char	*d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

void
spool_free(struct qent *q)
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
		fprintf(fp, "rcpt %s %d %s %s\n", spool_states[q->rcpts[i].state],
		    q->rcpts[i].code, q->rcpts[i].addr,
		    q->rcpts[i].text != NULL ? q->rcpts[i].text : "");
	fprintf(fp, "end\n");
	fclose(fp);
	return buf;
}

/*
 * Write q as dir/prefixID.env: a new file, fsync'd, renamed over the old
 * one.  With commit, the renames of the submission happen here: ID.msg
 * first, then ID.env (the commit point), then the directory is fsync'd.
 */
int
spool_write(const char *dir, const struct qent *q, int commit, struct err *e)
{
	char	*tmp, *dst, *text, *mtmp = NULL, *mdst = NULL;
	size_t	 len;
	int	 fd, rc = -1;

	tmp = spool_path(dir, "tmp.", q->id, "env");
	dst = spool_path(dir, "", q->id, "env");
	text = env_text(q, &len);
	priv_hold();
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0660)) == -1) {
		spool_error(e, dir, "creating the envelope file");
		goto out;
	}
	(void)fchmod(fd, 0660);
	if (util_writeall(fd, text, len / 2) == -1)
		goto fail;
	spool_crash("mid-rewrite");
	if (util_writeall(fd, text + len / 2, len - len / 2) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (commit) {
		mtmp = spool_path(dir, "tmp.", q->id, "msg");
		mdst = spool_path(dir, "", q->id, "msg");
		if (rename(mtmp, mdst) == -1)
			goto fail;
	}
	if (rename(tmp, dst) == -1)
		goto fail;
	priv_drop();
	rc = fsync_dir(dir, e);
	goto done;
fail:
	spool_error(e, dir, "writing the envelope file");
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
		if (strcmp(state, spool_states[i]) == 0)
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
int
spool_read(const char *dir, const char *id, struct qent *q)
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
		spool_free(q);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* --- new messages ------------------------------------------------------ */

/*
 * Create dir/tmp.ID.msg for a new message under a new id (the time of
 * submission, then random bits, so that ids sort by age).  Returns the
 * descriptor, or -1 with errno.
 */
int
spool_create(const char *dir, char *id, size_t idsize)
{
	char		*path;
	uint32_t	 r;
	int		 fd = -1, tries, saved;

	priv_hold();
	for (tries = 0; tries < 100 && fd == -1; tries++) {
		arc4random_buf(&r, sizeof(r));
		(void)snprintf(id, idsize, "%08llX%08X",
		    (unsigned long long)time(NULL) & 0xffffffffULL,
		    (unsigned int)r);
		path = spool_path(dir, "tmp.", id, "msg");
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
		free(path);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	saved = errno;
	if (fd != -1)
		(void)fchmod(fd, 0660);
	priv_drop();
	errno = saved;
	return fd;
}

/*
 * Queue a message postern made itself (a DSN): text as ID.msg, d as its
 * envelope, committed.  d->id is set.
 */
int
spool_put(const char *dir, struct qent *d, const char *text, size_t len,
    struct err *e)
{
	char	*path;
	int	 fd, rc = -1;

	if ((fd = spool_create(dir, d->id, sizeof(d->id))) == -1)
		return spool_error(e, dir, "creating a message file");
	if (util_writeall(fd, text, len) == -1 || fsync(fd) == -1)
		spool_error(e, dir, "writing a message file");
	else
		rc = spool_write(dir, d, 1, e);
	close(fd);
	if (rc == -1) {
		path = spool_path(dir, "tmp.", d->id, "msg");
		priv_hold();
		(void)unlink(path);
		priv_drop();
		free(path);
	}
	return rc;
}

/* --- locking and removal ----------------------------------------------- */

/*
 * Open and lock dir/ID.msg.  -1 with errno EWOULDBLOCK when another
 * process has it, ENOENT when it is gone.
 */
int
spool_lock(const char *dir, const char *id)
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
int
spool_remove(const char *dir, const char *id, struct err *e)
{
	char	*env, *msg;
	int	 rc = 0;

	env = spool_path(dir, "", id, "env");
	msg = spool_path(dir, "", id, "msg");
	priv_hold();
	if (unlink(env) == -1 && errno != ENOENT)
		rc = spool_error(e, dir, "removing a message");
	else if (unlink(msg) == -1 && errno != ENOENT)
		rc = spool_error(e, dir, "removing a message");
	priv_drop();
	if (rc == 0)
		rc = fsync_dir(dir, e);
	free(env);
	free(msg);
	return rc;
}

/* --- the directory ----------------------------------------------------- */

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
int
spool_ids(const char *dir, time_t now, int sweep_too, struct qitem **out,
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
		return spool_error(e, dir, "opendir");
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
		if (!spool_valid_id(id))
			continue;
		if (strcmp(de->d_name + QUEUE_IDLEN, ".msg") == 0) {
			/* A data file without its envelope: never committed. */
			envp = spool_path(dir, "", id, "env");
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

void
spool_items_free(struct qitem *it, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(it[i].account);
	free(it);
}
