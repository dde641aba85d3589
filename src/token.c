/*
 * The OAuth2 token store (oauth2.c's files, no HTTP here):
 * queue_dir/oauth2/ACCOUNT holds "refresh_token", "access_token" and
 * "expires" lines.  A store file is rewritten by writing FILE.spare and
 * exchanging the two names (renameat2 RENAME_EXCHANGE), then fsyncing
 * the directory: atomic, and the files keep their owner, so that a
 * caller of the setgid install, who may update root:postern 0660 files
 * through the group, never owns (and so can never read) one.  Files are
 * created only by a caller who owns the directory (its own queue; root
 * for the system spool, by postern --authorize).  FILE.lock serialises
 * refreshes.  The group is held only around the file operations.  The
 * test build's crash point oauth2-stored is after the exchange.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define TOKEN_FILESZ	(32 * 1024)	/* a store file is read up to this */

void
token_free(struct tokens *t)
{
	if (t->refresh != NULL)
		freezero(t->refresh, strlen(t->refresh));
	if (t->access != NULL)
		freezero(t->access, strlen(t->access));
	memset(t, 0, sizeof(*t));
}

void
token_file(struct tokfile *f, const char *dir, const char *name)
{
	f->dir = xstrdup(dir);
	f->name = xstrdup(name);
	xasprintf(&f->path, "%s/%s", dir, name);
}

void
token_file_free(struct tokfile *f)
{
	free(f->dir);
	free(f->name);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

/*
 * May this file hold a token?  Its owner is the caller or root, and
 * others have no access (root:postern 0660 in the system spool).
 */
static int
owner_ok(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_mode & S_IRWXO) == 0 &&
	    (st->st_uid == getuid() || st->st_uid == 0);
}

/*
 * May the caller create files in dir?  Only in a directory it owns: in
 * the system spool a caller of the setgid install would own the file
 * and could read it, so there the files are made by --authorize, as
 * root, and only ever rewritten.
 */
static int
may_create(const char *dir, mode_t *mode)
{
	struct stat	st;
	int		rc;

	priv_hold();
	rc = stat(dir, &st);
	priv_drop();
	if (rc == -1 || st.st_uid != getuid())
		return 0;
	*mode = (st.st_mode & S_IRWXG) != 0 ? 0660 : 0600;
	return 1;
}

static int
store_err(struct err *e, enum errclass cls, const char *path,
    const char *what)
{
	return err_set(e, cls, "oauth2: token store %s: %s: %s", path, what,
	    strerror(errno));
}

/*
 * Read a store file: 0 with its tokens, 1 when it does not exist, -1.
 * With bare, the file holds nothing but a refresh token (the
 * oauth2_refresh_token_file), its trailing newline ignored.
 */
int
token_read(const char *path, int bare, struct tokens *t, struct err *e)
{
	struct stat	 st;
	char		*buf, *line, *p, *next;
	const char	*errstr;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	memset(t, 0, sizeof(*t));
	priv_hold();
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	priv_drop();
	if (fd == -1)
		return errno == ENOENT ? 1 : store_err(e, ERR_CONFIG, path,
		    "open");
	if (fstat(fd, &st) == -1 || !owner_ok(&st)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "oauth2: %s: must "
		    "be a file of yours or root's that others cannot read "
		    "(mode 0600, or root:%s 0660)", path, POSTERN_GROUP);
	}
	buf = xcalloc(1, TOKEN_FILESZ + 1);
	while (len < TOKEN_FILESZ && (n = read(fd, buf + len,
	    TOKEN_FILESZ - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (bare) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] != '\0')
			t->refresh = xstrdup(buf);
		freezero(buf, TOKEN_FILESZ + 1);
		return 0;
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((p = strchr(line, ' ')) == NULL)
			continue;
		*p++ = '\0';
		if (strcmp(line, "refresh_token") == 0 && t->refresh == NULL)
			t->refresh = xstrdup(p);
		else if (strcmp(line, "access_token") == 0 &&
		    t->access == NULL)
			t->access = xstrdup(p);
		else if (strcmp(line, "expires") == 0)
			t->expires = strtonum(p, 0, LLONG_MAX, &errstr);
	}
	freezero(buf, TOKEN_FILESZ + 1);
	return 0;
}

static int
dir_sync(const char *dir)
{
	int	fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Open NAME.spare for writing, creating it when the caller may. */
static int
spare_open(const struct tokfile *f, const char *spare, struct err *e)
{
	struct stat	st;
	mode_t		mode;
	int		fd;

	fd = open(spare, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		if (!may_create(f->dir, &mode)) {
			errno = ENOENT;
			return store_err(e, ERR_CONFIG, spare, "missing (as "
			    "root, postern --authorize makes it)");
		}
		priv_hold();
		fd = open(spare, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, mode);
		if (fd != -1)
			(void)fchmod(fd, mode);
	}
	if (fd == -1)
		return store_err(e, ERR_CONFIG, spare, "open");
	if (fstat(fd, &st) == -1 || !owner_ok(&st)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "oauth2: %s: must "
		    "be a file of yours or root's that others cannot read",
		    spare);
	}
	return fd;
}

/*
 * Replace the contents of f atomically: write NAME.spare, fsync it,
 * exchange the two names (or rename, the first time), fsync the
 * directory, then empty the spare, which now holds the old contents.
 */
int
token_write(const struct tokfile *f, const char *text, struct err *e)
{
	char	*spare;
	int	 fd, rc = -1;

	xasprintf(&spare, "%s.spare", f->path);
	priv_hold();
	if ((fd = spare_open(f, spare, e)) == -1)
		goto out;
	if (ftruncate(fd, 0) == -1 || util_writeall(fd, text, strlen(text)) ==
	    -1 || fsync(fd) == -1) {
		store_err(e, ERR_TEMP, spare, "write");
		close(fd);
		goto out;
	}
	close(fd);
	if (renameat2(AT_FDCWD, spare, AT_FDCWD, f->path,
	    RENAME_EXCHANGE) == -1 && (errno != ENOENT ||
	    rename(spare, f->path) == -1)) {
		store_err(e, ERR_TEMP, f->path, "rename");
		goto out;
	}
	if (dir_sync(f->dir) == -1) {
		store_err(e, ERR_TEMP, f->dir, "fsync");
		goto out;
	}
	spool_crash("oauth2-stored");
	/* The old tokens: gone (the spare, if there is one now, stays). */
	if ((fd = open(spare, O_WRONLY | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC)) != -1)
		close(fd);
	rc = 0;
out:
	priv_drop();
	free(spare);
	return rc;
}

/* The text of the token store. */
char *
token_text(const struct tokens *t, int with_refresh)
{
	char	*s;

	xasprintf(&s, "%s%s%saccess_token %s\nexpires %lld\n",
	    with_refresh ? "refresh_token " : "",
	    with_refresh ? t->refresh : "", with_refresh ? "\n" : "",
	    t->access != NULL ? t->access : "", t->expires);
	return s;
}

/*
 * The token store's directory: queue_dir/oauth2, made when missing by a
 * caller who owns the queue directory (a user's own queue; root for the
 * system spool, where it is root:postern 2770 like the spool).
 */
int
token_dir(const struct account *a, char **dir, struct err *e)
{
	const char	*q = conf_queuedir(a);
	struct stat	 st;
	mode_t		 mode;
	int		 rc;

	xasprintf(dir, "%s/oauth2", q);
	priv_hold();
	rc = stat(*dir, &st);
	priv_drop();
	if (rc == 0)
		return 0;
	if (errno == ENOENT && may_create(q, &mode)) {
		priv_hold();
		if ((rc = mkdir(*dir, mode == 0660 ? 02770 : 0700)) == 0)
			(void)chmod(*dir, mode == 0660 ? 02770 : 0700);
		priv_drop();
		if (rc == 0 || errno == EEXIST)
			return 0;
	}
	err_set(e, ERR_NOPERM, "oauth2: account '%s' has no token store %s "
	    "(%s): run postern --authorize -a %s", a->name, *dir,
	    errno == ENOENT ? "not made yet" : strerror(errno), a->name);
	free(*dir);
	*dir = NULL;
	return -1;
}

/* The lock that makes refreshes of one account one at a time. */
int
token_lock(const struct tokfile *f, struct err *e)
{
	char	*path;
	mode_t	 mode;
	int	 fd;

	xasprintf(&path, "%s.lock", f->path);
	priv_hold();
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && may_create(f->dir, &mode)) {
		priv_hold();
		fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    mode);
		if (fd != -1)
			(void)fchmod(fd, mode);	/* whatever the umask */
	}
	priv_drop();
	if (fd == -1) {
		store_err(e, ERR_CONFIG, path, "open");
		free(path);
		return -1;
	}
	free(path);
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			close(fd);
			return err_set(e, ERR_OS, "oauth2: flock: %s",
			    strerror(errno));
		}
	return fd;
}

/* The store file at path: its directory and its name. */
void
token_file_path(struct tokfile *f, const char *path)
{
	char	*p = xstrdup(path), *slash = strrchr(p, '/');

	if (slash != NULL)
		*slash = '\0';
	token_file(f, slash == NULL ? "." : slash == p ? "/" : p,
	    slash == NULL ? p : slash + 1);
	free(p);
}
