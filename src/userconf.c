/*
 * Which configuration postern reads, and what the environment adds to
 * it (postern.conf(5), "FILES" and "ENVIRONMENT"):
 *
 * - -C FILE, read with the caller's own rights (the group given up for
 *   good first);
 * - else, for a caller that is not root, its own file, the first that
 *   exists of $XDG_CONFIG_HOME/postern/config, ~/.config/postern/config
 *   and ~/.msmtprc, unless the system file says "user_config off"; it
 *   is read with the caller's rights too, must be the caller's and
 *   writable by no one else;
 * - else the system file, with the setgid group held;
 * - else, when there is no system file, nothing: the environment alone.
 *
 * Then POSTERN_<KEY> sets <key> of the account "default", unless the
 * process is set-id (AT_SECURE), where the environment is the caller's
 * to choose and is ignored.  A caller that is not root and reads
 * anything but the system file has its own queue,
 * $XDG_STATE_HOME/postern/queue (~/.local/state/postern/queue), created
 * 0700, where its accounts name no queue_dir.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

extern char	**environ;

#define ENV_PREFIX	"POSTERN_"

/*
 * $VAR/rest when $VAR is an absolute path (XDG), else ~/fallback/rest.
 * Even set-id, the caller's variable is heeded: what is found there is
 * read, and created, with the caller's own rights only.
 */
static char *
xdg_path(const char *var, const char *fallback, const char *rest)
{
	const char	*v = getenv(var);
	char		*home, *p;

	if (v != NULL && v[0] == '/') {
		xasprintf(&p, "%s/%s", v, rest);
		return p;
	}
	home = subst_home();
	xasprintf(&p, "%s/%s/%s", home, fallback, rest);
	free(home);
	return p;
}

/* The caller's own file: the first of the three that exists, or NULL. */
static char *
user_file(void)
{
	struct stat	 st;
	char		*p, *home;

	p = xdg_path("XDG_CONFIG_HOME", ".config", "postern/config");
	if (stat(p, &st) == 0)
		return p;
	free(p);
	home = subst_home();
	xasprintf(&p, "%s/.config/postern/config", home);
	if (stat(p, &st) != 0) {
		free(p);
		xasprintf(&p, "%s/.msmtprc", home);
		if (stat(p, &st) != 0) {
			free(p);
			p = NULL;
		}
	}
	free(home);
	return p;
}

/*
 * Does the system file allow user files?  Not when any of its accounts
 * (or its defaults) says user_config off.  A system file that is not
 * there, or that the caller may not read (no setgid install), forbids
 * nothing.
 */
static int
user_allowed(struct err *e)
{
	struct conf	 sys;
	struct stat	 st;
	size_t		 i;
	int		 ok = 1, rc;

	priv_hold();
	if (stat(POSTERN_CONF, &st) == -1 ||
	    faccessat(AT_FDCWD, POSTERN_CONF, R_OK, AT_EACCESS) == -1) {
		priv_drop();
		return 1;
	}
	rc = conf_load(&sys, POSTERN_CONF, 0, e);
	priv_drop();
	if (rc == -1)
		return -1;
	for (i = 0; i < sys.nacct; i++)
		if (!sys.accts[i].user_config)
			ok = 0;
	conf_free(&sys);
	return ok;
}

/* The caller's own file must be theirs, and no one else's to change. */
static int
user_file_ok(const char *path, struct err *e)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	if (st.st_uid != getuid())
		return err_set(e, ERR_CONFIG, "%s: owned by uid %lu, not by "
		    "you (uid %lu)", path, (unsigned long)st.st_uid,
		    (unsigned long)getuid());
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return err_set(e, ERR_CONFIG, "%s: writable by others (mode "
		    "%03o; chmod go-w it)", path,
		    (unsigned int)(st.st_mode & 0777));
	return 0;
}

/* mkdir -p with mode 0700 for every directory it makes. */
static int
make_dirs(const char *dir, struct err *e)
{
	char	*p, *s, c;

	p = xstrdup(dir);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			err_set(e, ERR_CANTCREAT, "queue directory %s: %s", p,
			    strerror(errno));
			free(p);
			return -1;
		}
		if ((*s = c) == '\0')
			break;
	}
	free(p);
	return 0;
}

/* The caller's own queue for every account that names none. */
static int
user_queue(struct conf *c, int flags, struct err *e)
{
	char	*dir;
	size_t	 i;
	int	 used = 0;

	dir = xdg_path("XDG_STATE_HOME", ".local/state", "postern/queue");
	for (i = 0; i < c->nacct; i++)
		if (c->accts[i].queue_dir == NULL) {
			c->accts[i].queue_dir = xstrdup(dir);
			used |= c->accts[i].queue;
		}
	if (used && !(flags & USERCONF_NOMKDIR) && make_dirs(dir, e) == -1) {
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/*
 * POSTERN_<KEY>=value: "key value" for the account "default".  A
 * set-id process ignores them all, and -v says so once.
 */
static int
apply_env(struct conf *c, struct err *e)
{
	char	**ep, key[64], origin[80];
	size_t	  n, plen = strlen(ENV_PREFIX), i;
	int	  told = 0;

	for (ep = environ; *ep != NULL; ep++) {
		const char *v = *ep, *eq;

		if (strncmp(v, ENV_PREFIX, plen) != 0 ||
		    (eq = strchr(v, '=')) == NULL)
			continue;
		if (strncmp(v, "POSTERN_CRASH=", 14) == 0)
			continue;	/* the POSTERN_TEST build's hook */
		if (subst_secure()) {
			if (!told++)
				log_debug("postern runs set-id: the "
				    "POSTERN_* environment variables are "
				    "ignored");
			continue;
		}
		n = (size_t)(eq - v) - plen;
		if (n == 0 || n >= sizeof(key))
			return err_set(e, ERR_CONFIG, "environment: %.*s: not "
			    "a configuration key", (int)(eq - v), v);
		for (i = 0; i < n; i++)
			key[i] = (char)tolower((unsigned char)v[plen + i]);
		key[n] = '\0';
		(void)snprintf(origin, sizeof(origin), "environment %.*s",
		    (int)(eq - v), v);
		if (conf_set(c, "default", key, eq + 1, origin, e) == -1)
			return -1;
		c->nenv++;
	}
	return 0;
}

/* Is any POSTERN_* configuration variable set (and heeded)? */
static int
env_any(void)
{
	char	**ep;

	if (subst_secure())
		return 0;
	for (ep = environ; *ep != NULL; ep++)
		if (strncmp(*ep, ENV_PREFIX, strlen(ENV_PREFIX)) == 0 &&
		    strncmp(*ep, "POSTERN_CRASH=", 14) != 0)
			return 1;
	return 0;
}

/* No file at all: one account "default" from the built-in defaults. */
static void
env_only(struct conf *c)
{
	FILE	*fp;
	struct err ign;

	memset(c, 0, sizeof(*c));
	if ((fp = fopen("/dev/null", "r")) != NULL) {
		(void)conf_parse(c, "environment", fp, &ign);
		fclose(fp);
	}
	c->kind = CONF_ENV;
}

/* Pick the file, read it, add the environment. */
static int
load_file(struct conf *c, const char *cfile, struct err *e)
{
	struct stat	 st;
	char		*uf;
	int		 rc, ok;

	if (cfile != NULL) {
		priv_revoke();
		if (conf_load(c, cfile, 0, e) == -1)
			return -1;
		c->kind = CONF_CMDLINE;
		return 0;
	}
	if (getuid() != 0 && (uf = user_file()) != NULL) {
		if ((ok = user_allowed(e)) == -1) {
			free(uf);
			return -1;
		}
		if (ok) {
			priv_revoke();
			rc = user_file_ok(uf, e) == -1 ? -1 :
			    conf_load(c, uf, 0, e);
			free(uf);
			if (rc == 0)
				c->kind = CONF_USER;
			return rc;
		}
		log_debug("%s is not read: %s says user_config off", uf,
		    POSTERN_CONF);
		free(uf);
	}
	if (stat(POSTERN_CONF, &st) == -1 && errno == ENOENT && env_any()) {
		env_only(c);
		return 0;
	}
	priv_hold();
	rc = conf_load(c, POSTERN_CONF, 0, e);
	priv_drop();
	if (rc == 0)
		c->kind = CONF_SYSTEM;
	return rc;
}

/*
 * The configuration postern runs with.  flags: USERCONF_KEYS loads the
 * DKIM keys (with the group held, for the system file's), and
 * USERCONF_NOMKDIR creates no queue directory.
 */
int
userconf_load(struct conf *c, const char *cfile, int flags, struct err *e)
{
	if (load_file(c, cfile, e) == -1)
		return -1;
	if (apply_env(c, e) == -1)
		goto fail;
	if (flags & USERCONF_KEYS) {
		priv_hold();
		if (conf_keys(c, e) == -1) {
			priv_drop();
			goto fail;
		}
		priv_drop();
	}
	if (getuid() != 0 && c->kind != CONF_SYSTEM &&
	    user_queue(c, flags, e) == -1)
		goto fail;
	return 0;
fail:
	conf_free(c);
	return -1;
}
