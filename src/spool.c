/*
 * The spool's files (postern(8), "QUEUE FILES"): the format of one queued
 * message, and every file operation on the queue directory.
 *
 * Version 2.  A message is committed as one file, ID.msg: the prepared
 * message (size bytes), then its envelope, which ends with the lines
 * "size SIZE" and "end", so that a reader finds the envelope at offset
 * SIZE from the last bytes of the file.  Submission writes tmp.ID.msg,
 * appends the envelope, fsyncs it once, renames it to ID.msg and fsyncs
 * the directory: one fsync of the file, one rename, one fsync of the
 * directory, all before the first network connection.  ID.msg is the
 * commit point: a message is queued exactly when its ID.msg exists.
 * Every later change of the envelope (an attempt, --hold) writes the
 * whole envelope, alone, as tmp.ID.env, fsyncs it and renames it to
 * ID.env, which then overrides the copy in ID.msg.  Every address and
 * text is xtext (RFC 3461 section 4): a space or any other byte is
 * unambiguous, and a field has no length limit; files are read as a
 * stream, whatever their size.
 *
 * Version 1 (read, never written): ID.msg is the message alone and ID.env
 * its envelope with fields split on spaces; ID.env was the commit point.
 * When one is updated, ID.env is written in version 2.
 *
 * ID.msg carries the lock (flock, LOCK_EX | LOCK_NB): it is never
 * renamed after the commit, so every process locks the same inode.  A
 * process that gets the lock reads the envelope again, since the holder
 * may have finished it meanwhile.  Removal unlinks ID.msg first (and
 * fsyncs the directory only for --delete, see spool_remove).  The
 * spool group is held only around the calls that touch the directory
 * (priv.c).
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

#define QUEUE_VERSION	"postern-queue 2"
#define QUEUE_VERSION1	"postern-queue 1"	/* read only */
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
	free(q->conf);
	free(q->account);
	free(q->from);
	free(q->notify);
	free(q->ret);
	free(q->envid);
	free(q->msgid);
	free(q->error);
	memset(q, 0, sizeof(*q));
}

/* --- the envelope: writing --------------------------------------------- */

/* xtext (RFC 3461 section 4): "+" and "=" and bytes outside 33-126 as +HH. */
static void
put_xtext(FILE *fp, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
			fprintf(fp, "+%02X", *p);
		else
			putc(*p, fp);
}

static void
put_field(FILE *fp, const char *key, const char *v)
{
	if (v == NULL)
		return;
	fprintf(fp, "%s ", key);
	put_xtext(fp, v);
	putc('\n', fp);
}

/* The envelope of q in version 2, "size" and "end" last. */
static char *
env_text(const struct qent *q, size_t *len)
{
	FILE		*fp;
	char		*buf = NULL;
	size_t		 i;
	const struct qrcpt *r;

	if ((fp = open_memstream(&buf, len)) == NULL) {
		log_warnx("out of memory");
		exit(71);
	}
	fprintf(fp, "%s\n", QUEUE_VERSION);
	put_field(fp, "conf", q->conf);
	put_field(fp, "account", q->account);
	fprintf(fp, "cflag %d\nuid %lld\ncreated %lld\nnext %lld\n"
	    "attempts %d\nlast %lld\nheld %d\ndsn %d\nerrmode %d\n"
	    "eightbit %d\nmaxline %lld\n", q->cflag, q->uid, q->created,
	    q->next, q->attempts, q->last, q->held, q->dsn, (int)q->errmode,
	    q->eightbit, q->maxline);
	put_field(fp, "from", q->from);
	put_field(fp, "notify", q->notify);
	put_field(fp, "ret", q->ret);
	put_field(fp, "envid", q->envid);
	put_field(fp, "msgid", q->msgid);
	put_field(fp, "error", q->error);
	for (i = 0; i < q->nrcpt; i++) {
		r = &q->rcpts[i];
		fprintf(fp, "rcpt %s %d %d ", spool_states[r->state], r->code,
		    r->told);
		put_xtext(fp, r->addr);
		putc(' ', fp);
		put_xtext(fp, r->text != NULL ? r->text : "");
		putc('\n', fp);
	}
	fprintf(fp, "size %lld\nend\n", q->size);
	if (fclose(fp) == EOF) {
		log_warnx("out of memory");
		exit(71);
	}
	return buf;
}

/*
 * The envelope into fd (at its current offset) in two halves, with the
 * crash point of the test build between them, then fsync.
 */
static int
write_env(int fd, const struct qent *q)
{
	char	*text;
	size_t	 len;
	int	 rc = -1;

	text = env_text(q, &len);
	if (util_writeall(fd, text, len / 2) == 0) {
		spool_crash("mid-rewrite");
		if (util_writeall(fd, text + len / 2, len - len / 2) == 0 &&
		    fsync(fd) == 0)
			rc = 0;
	}
	free(text);
	return rc;
}

/*
 * Rename tmp over dst and fsync the directory; tmp is removed when the
 * rename fails.
 */
static int
put_in_place(const char *dir, const char *tmp, const char *dst,
    struct err *e)
{
	int	rc = 0;

	priv_hold();
	if (rename(tmp, dst) == -1) {
		rc = spool_error(e, dir, "renaming into place");
		(void)unlink(tmp);
	}
	priv_drop();
	return rc == 0 ? fsync_dir(dir, e) : -1;
}

/*
 * Commit a new message: its envelope q appended to tmp.ID.msg (fd, which
 * holds exactly q->size bytes of message), one fsync, the rename to
 * ID.msg, the directory fsync'd.
 */
int
spool_commit(const char *dir, const struct qent *q, int fd, struct err *e)
{
	char	*tmp, *dst;
	int	 rc;

	tmp = spool_path(dir, "tmp.", q->id, "msg");
	dst = spool_path(dir, "", q->id, "msg");
	if (lseek(fd, (off_t)q->size, SEEK_SET) == -1 ||
	    ftruncate(fd, (off_t)q->size) == -1 || write_env(fd, q) == -1)
		rc = spool_error(e, dir, "writing the message file");
	else
		rc = put_in_place(dir, tmp, dst, e);
	free(tmp);
	free(dst);
	return rc;
}

/*
 * Record a change of q's envelope: dir/tmp.ID.env, fsync'd, renamed over
 * ID.env, the directory fsync'd.
 */
int
spool_write(const char *dir, const struct qent *q, struct err *e)
{
	char	*tmp, *dst;
	int	 fd, rc;

	tmp = spool_path(dir, "tmp.", q->id, "env");
	dst = spool_path(dir, "", q->id, "env");
	priv_hold();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	if (fd != -1)
		(void)fchmod(fd, 0660);
	priv_drop();
	if (fd == -1)
		rc = spool_error(e, dir, "creating the envelope file");
	else if (write_env(fd, q) == -1 || close(fd) == -1) {
		rc = spool_error(e, dir, "writing the envelope file");
		(void)close(fd);
		priv_hold();
		(void)unlink(tmp);
		priv_drop();
	} else
		rc = put_in_place(dir, tmp, dst, e);
	free(tmp);
	free(dst);
	return rc;
}

/* --- the envelope: reading --------------------------------------------- */

static int
num(const char *v, long long max, long long *out)
{
	const char	*errstr;

	*out = strtonum(v, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

/*
 * Decode xtext in place.  A control character, decoded or not, has no
 * business in any field: it could reach an SMTP command or mailq's
 * output.  -1 then, or on malformed xtext.
 */
static int
unxtext(char *s)
{
	char	*d = s;
	int	 c, hi, lo;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '+') {
			if ((hi = util_hexval(s[1])) == -1 ||
			    (lo = util_hexval(s[2])) == -1)
				return -1;
			c = hi * 16 + lo;
			s += 2;
		} else if (c == '=')
			return -1;
		if (c < 0x20 || c == 0x7f)
			return -1;
		*d++ = (char)c;
	}
	*d = '\0';
	return 0;
}

/* v2: "rcpt STATE CODE TOLD ADDR TEXT"; v1: "rcpt STATE CODE ADDR TEXT..." */
static int
rcpt_line(struct qent *q, char *v)
{
	struct qrcpt	*r;
	char		*state, *code, *told = NULL, *addr;
	long long	 c, t = 0;
	int		 i;

	state = strsep(&v, " ");
	code = strsep(&v, " ");
	if (q->version == 2)
		told = strsep(&v, " ");
	addr = strsep(&v, " ");
	if (v == NULL || code == NULL || addr == NULL ||
	    num(code, 599, &c) == -1 || (told != NULL && num(told, 1,
	    &t) == -1))
		return -1;
	if (q->version == 2 && (strchr(v, ' ') != NULL ||
	    unxtext(addr) == -1 || unxtext(v) == -1))
		return -1;
	if (*addr == '\0')
		return -1;
	for (i = 0; i < 3; i++)
		if (strcmp(state, spool_states[i]) == 0)
			break;
	if (i == 3)
		return -1;
	if ((q->nrcpt & (q->nrcpt - 1)) == 0)	/* doubling */
		q->rcpts = xreallocarray(q->rcpts, 2 * q->nrcpt + 1,
		    sizeof(*q->rcpts));
	r = &q->rcpts[q->nrcpt++];
	r->addr = xstrdup(addr);
	r->state = (enum qstate)i;
	r->code = (int)c;
	r->told = (int)t;
	r->text = *v == '\0' ? NULL : xstrdup(v);
	return 0;
}

/* A text field, once: conf, account, from, notify, ret, envid, msgid... */
static char **
text_field(struct qent *q, const char *k)
{
	char	**f = strcmp(k, "conf") == 0 ? &q->conf :
		    strcmp(k, "account") == 0 ? &q->account :
		    strcmp(k, "from") == 0 ? &q->from :
		    strcmp(k, "notify") == 0 ? &q->notify :
		    strcmp(k, "ret") == 0 ? &q->ret :
		    strcmp(k, "envid") == 0 ? &q->envid :
		    strcmp(k, "msgid") == 0 ? &q->msgid :
		    strcmp(k, "error") == 0 ? &q->error : NULL;

	return f != NULL && *f == NULL ? f : NULL;
}

static int
env_line(struct qent *q, char *line)
{
	char		*k = line, *v, **f;
	const char	*c;
	long long	 n;

	for (c = line; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	if ((v = strchr(line, ' ')) == NULL)
		return -1;
	*v++ = '\0';
	if (strcmp(k, "rcpt") == 0)
		return rcpt_line(q, v);
	if ((f = text_field(q, k)) != NULL) {
		if (q->version == 2 && unxtext(v) == -1)
			return -1;
		/* v1 wrote the null sender as "<>". */
		*f = xstrdup(q->version == 1 && f == &q->from &&
		    strcmp(v, "<>") == 0 ? "" : v);
		return 0;
	}
	if (num(v, LLONG_MAX, &n) == -1)
		return -1;
	if (strcmp(k, "created") == 0)
		q->created = n;
	else if (strcmp(k, "uid") == 0)
		q->uid = n;
	else if (strcmp(k, "next") == 0)
		q->next = n;
	else if (strcmp(k, "attempts") == 0 && n <= INT_MAX)
		q->attempts = (int)n;
	else if (strcmp(k, "last") == 0)
		q->last = n;
	else if (strcmp(k, "held") == 0)
		q->held = n != 0;
	else if (strcmp(k, "cflag") == 0)
		q->cflag = n != 0;
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
 * Parse an envelope from fp's position: the version line, fields, "end"
 * and then the end of the file.  Streaming: no limit on its size.
 */
static int
env_parse(FILE *fp, struct qent *q)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 rc = -1, ended = 0;

	if ((n = getline(&line, &cap, fp)) <= 0)
		goto out;
	line[n - 1] = line[n - 1] == '\n' ? '\0' : line[n - 1];
	if (strcmp(line, QUEUE_VERSION) == 0)
		q->version = 2;
	else if (strcmp(line, QUEUE_VERSION1) == 0)
		q->version = 1;
	else
		goto out;
	rc = 0;
	while (rc == 0 && !ended && (n = getline(&line, &cap, fp)) > 0) {
		if (line[n - 1] != '\n' || memchr(line, '\0', (size_t)n) !=
		    NULL) {
			rc = -1;
			break;
		}
		line[n - 1] = '\0';
		if (strcmp(line, "end") == 0)
			ended = 1;
		else
			rc = env_line(q, line);
	}
	/* Nothing may follow "end". */
	if (rc == 0 && (!ended || getc(fp) != EOF))
		rc = -1;
out:
	free(line);
	return rc;
}

/*
 * Where the envelope of a version 2 ID.msg starts: the file ends with
 * "\nsize SIZE\nend\n", and SIZE is that offset.  -1 when it does not.
 */
static off_t
trailer(int fd)
{
	struct stat	 st;
	char		 buf[64], *p;
	ssize_t		 n;
	off_t		 from;
	long long	 size;

	if (fstat(fd, &st) == -1 || st.st_size < 16)
		return -1;
	from = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size -
	    (off_t)sizeof(buf) + 1 : 0;
	if ((n = pread(fd, buf, sizeof(buf) - 1, from)) < 16)
		return -1;
	buf[n] = '\0';
	if (strcmp(buf + n - 5, "\nend\n") != 0)
		return -1;
	buf[n - 5] = '\0';
	if ((p = strrchr(buf, '\n')) == NULL || strncmp(p, "\nsize ", 6) != 0 ||
	    num(p + 6, LLONG_MAX, &size) == -1 || size >= st.st_size)
		return -1;
	return (off_t)size;
}

/*
 * Read the envelope of message id: ID.env when there is one, else the
 * one in ID.msg.  Returns 0, or -1 with errno ENOENT when the message is
 * gone, EINVAL when it is not a complete queue file.
 */
int
spool_read(const char *dir, const char *id, struct qent *q)
{
	FILE	*fp;
	off_t	 off = 0;
	int	 fd, rc;

	memset(q, 0, sizeof(*q));
	if ((fd = qopen(dir, id, "env")) == -1) {
		if (errno != ENOENT || (fd = qopen(dir, id, "msg")) == -1)
			return -1;
		if ((off = trailer(fd)) == -1) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	(void)strlcpy(q->id, id, sizeof(q->id));
	rc = fseeko(fp, off, SEEK_SET) == -1 ? -1 : env_parse(fp, q);
	fclose(fp);
	/* The envelope in ID.msg begins where the message ends. */
	if (rc == -1 || q->account == NULL || q->from == NULL ||
	    q->nrcpt == 0 || (off != 0 && (q->version != 2 ||
	    q->size != (long long)off))) {
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
	d->size = (long long)len;
	if (util_writeall(fd, text, len) == -1)
		spool_error(e, dir, "writing a message file");
	else
		rc = spool_commit(dir, d, fd, e);
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

/*
 * Remove a message: ID.msg first (the commit point; a version 1 message
 * without it is gone too), then ID.env.  With sync, the directory is
 * fsync'd, so that the removal outlives a crash: for --delete, where the
 * message must never come back.  A delivered or bounced message is
 * removed without it, as Postfix removes its queue files: the crash of
 * the machine in the seconds before the kernel writes the directory back
 * can only bring the message back for a second delivery, never lose it,
 * and every delivery is one fsync cheaper.
 */
int
spool_remove(const char *dir, const char *id, int sync, struct err *e)
{
	char	*env, *msg;
	int	 rc = 0;

	env = spool_path(dir, "", id, "env");
	msg = spool_path(dir, "", id, "msg");
	priv_hold();
	if (unlink(msg) == -1 && errno != ENOENT)
		rc = spool_error(e, dir, "removing a message");
	else if (unlink(env) == -1 && errno != ENOENT)
		rc = spool_error(e, dir, "removing a message");
	priv_drop();
	if (rc == 0 && sync)
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

static int
exists(const char *dir, const char *id, const char *ext)
{
	struct stat	 st;
	char		*path = spool_path(dir, "", id, ext);
	int		 rc;

	priv_hold();
	rc = stat(path, &st) == 0 || errno != ENOENT;
	priv_drop();
	free(path);
	return rc;
}

static int
has_trailer(const char *dir, const char *id)
{
	int	fd, rc;

	if ((fd = qopen(dir, id, "msg")) == -1)
		return errno != ENOENT;
	rc = trailer(fd) != -1;
	close(fd);
	return rc;
}

/*
 * The ids of the committed messages in dir (each ID.msg), in
 * directory order, each with an empty account.  Leftovers of crashes are
 * swept on the way when sweep_too.
 */
int
spool_ids(const char *dir, time_t now, int sweep_too, struct qitem **out,
    size_t *n, struct err *e)
{
	DIR		*d;
	struct dirent	*de;
	char		 id[QUEUE_IDLEN + 1];
	size_t		 len;

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
		if (strcmp(de->d_name + QUEUE_IDLEN, ".env") == 0) {
			/* An envelope without its message: removed. */
			if (sweep_too && !exists(dir, id, "msg"))
				sweep(dir, de->d_name, now);
			continue;
		}
		if (strcmp(de->d_name + QUEUE_IDLEN, ".msg") != 0)
			continue;
		/* A message without an envelope: never committed (v1). */
		if (sweep_too && !exists(dir, id, "env") && !has_trailer(dir,
		    id)) {
			sweep(dir, de->d_name, now);
			continue;
		}
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
