/*
 * The configuration file, in msmtprc syntax: "defaults", "account NAME
 * [: PARENT[,PARENT...]]", "account default : NAME", one "key value" per
 * line, "#" comments, values optionally in double quotes (backslash
 * escapes the next character), no line-length limit.  Every msmtp key is
 * either supported or rejected by name; an unknown key is an error that
 * names file, line and key.  Errors are ERR_CONFIG ("file:line: reason").
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <syslog.h>

#include "extern.h"

enum ktype {
	K_STR,		/* a string; an empty value unsets it */
	K_SECRET,	/* a string that must be wiped */
	K_BOOL,		/* on|off; no value means on */
	K_PORT,
	K_TIMEOUT,	/* seconds, or off */
	K_AUTH,
	K_FPR,		/* a SHA-256 fingerprint */
	K_TLSVER,	/* a TLS protocol version */
	K_NOTIFY,	/* DSN NOTIFY: off, never, or success,failure,delay */
	K_RETURN,	/* DSN RET: off, headers or full */
	K_SETFROM,	/* auto|on|off (set_from_header) */
	K_SETAUTO,	/* auto|off (set_date_header, set_msgid_header) */
	K_DURATION,	/* seconds, or a number with s, m, h or d */
	K_SYSLOG,	/* on|off|LOG_xxx */
	K_FILE,		/* a file name: "~" is the home directory */
	K_PROTO,	/* protocol: smtp only */
	K_MISSING,	/* add_missing_*_header on|off: set_* auto|off */
	K_IGNORE,	/* an msmtp key accepted, kept for --pretend, unused */
	K_REJECT	/* an msmtp key that postern does not support */
};

struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	const char	*why;		/* K_REJECT, K_IGNORE: the reason */
};

#define F(f)	offsetof(struct account, f)

static const struct key keys[] = {
	{ "host",		K_STR,		F(host), NULL },
	{ "port",		K_PORT,		F(port), NULL },
	{ "timeout",		K_TIMEOUT,	F(timeout), NULL },
	{ "domain",		K_STR,		F(domain), NULL },
	{ "auth",		K_AUTH,		F(auth), NULL },
	{ "user",		K_STR,		F(user), NULL },
	{ "password",		K_SECRET,	F(password), NULL },
	{ "passwordeval",	K_STR,		F(passwordeval), NULL },
	{ "auth_allow_plaintext", K_BOOL,	F(plaintext), NULL },
	{ "tls",		K_BOOL,		F(tls), NULL },
	{ "tls_starttls",	K_BOOL,		F(starttls), NULL },
	{ "tls_trust_file",	K_FILE,		F(trust_file), NULL },
	{ "from",		K_STR,		F(from), NULL },
	{ "source_ip",		K_STR,		F(source_ip), NULL },
	{ "tls_fingerprint",	K_FPR,		F(fpr), NULL },
	{ "tls_key_file",	K_FILE,		F(key_file), NULL },
	{ "tls_cert_file",	K_FILE,		F(cert_file), NULL },
	{ "tls_certcheck",	K_BOOL,		F(certcheck), NULL },
	{ "tls_host_override",	K_STR,		F(host_override), NULL },
	{ "tls_min_version",	K_TLSVER,	F(tls_min), NULL },
	{ "dsn_notify",		K_NOTIFY,	F(dsn_notify), NULL },
	{ "dsn_return",		K_RETURN,	F(dsn_return), NULL },
	{ "set_from_header",	K_SETFROM,	F(set_from), NULL },
	{ "set_date_header",	K_SETAUTO,	F(set_date), NULL },
	{ "set_msgid_header",	K_SETAUTO,	F(set_msgid), NULL },
	{ "remove_bcc_headers",	K_BOOL,		F(remove_bcc), NULL },
	{ "undisclosed_recipients", K_BOOL,	F(undisclosed), NULL },
	{ "from_full_name",	K_STR,		F(from_full_name), NULL },
	{ "maildomain",		K_STR,		F(maildomain), NULL },
	{ "queue",		K_BOOL,		F(queue), NULL },
	{ "queue_dir",		K_FILE,		F(queue_dir), NULL },
	{ "queue_retry_min",	K_DURATION,	F(retry_min), NULL },
	{ "queue_retry_max",	K_DURATION,	F(retry_max), NULL },
	{ "queue_lifetime",	K_DURATION,	F(lifetime), NULL },
	{ "proxy_host", K_REJECT, 0, "SOCKS proxies are not supported, and "
	    "ignoring one would send mail past it" },
	{ "proxy_port", K_REJECT, 0, "SOCKS proxies are not supported, and "
	    "ignoring one would send mail past it" },
	{ "socket", K_REJECT, 0, "local sockets are not supported, and "
	    "ignoring one would send mail to host instead" },
	{ "protocol",		K_PROTO,	0, NULL },
	{ "ntlmdomain",		K_IGNORE,	F(ntlmdomain), "it is for auth ntlm, "
	    "which postern does not offer" },
	{ "tls_crl_file",	K_FILE,		F(crl_file), NULL },
	{ "tls_priorities",	K_IGNORE,	F(priorities), "GnuTLS priority "
	    "strings do not apply to OpenSSL; tls_min_version sets the oldest "
	    "TLS version" },
	{ "tls_min_dh_prime_bits", K_IGNORE,	F(dh_bits), "TLS 1.2 or later "
	    "with OpenSSL's minimum key sizes is always required" },
	{ "password_file",	K_FILE,		F(password_file), NULL },
	{ "user_config",	K_BOOL,		F(user_config), NULL },
	{ "allow_from_override", K_BOOL,	F(from_override), NULL },
	{ "aliases",		K_FILE,		F(aliases), NULL },
	{ "logfile",		K_FILE,		F(logfile), NULL },
	{ "logfile_time_format", K_STR,		F(logtime), NULL },
	{ "syslog",		K_SYSLOG,	F(syslog), NULL },
	{ "dkim_domain",	K_STR,		F(dkim_domain), NULL },
	{ "dkim_selector",	K_STR,		F(dkim_selector), NULL },
	{ "dkim_key_file",	K_STR,		F(dkim_key_file), NULL },
	{ "dkim_algorithm",	K_STR,		F(dkim_algorithm), NULL },
	{ "dkim_headers",	K_STR,		F(dkim_headers), NULL },
	{ "oauth2_provider",	K_STR,		F(oauth2_provider), NULL },
	{ "oauth2_tenant",	K_STR,		F(oauth2_tenant), NULL },
	{ "oauth2_client_id",	K_STR,		F(oauth2_client_id), NULL },
	{ "oauth2_client_secret", K_SECRET,	F(oauth2_client_secret), NULL },
	{ "oauth2_client_secret_file", K_STR,	F(oauth2_client_secret_file), NULL },
	{ "oauth2_token_url",	K_STR,		F(oauth2_token_url), NULL },
	{ "oauth2_device_url",	K_STR,		F(oauth2_device_url), NULL },
	{ "oauth2_auth_url",	K_STR,		F(oauth2_auth_url), NULL },
	{ "oauth2_scope",	K_STR,		F(oauth2_scope), NULL },
	{ "oauth2_trust_file",	K_STR,		F(oauth2_trust_file), NULL },
	{ "oauth2_proxy",	K_STR,		F(oauth2_proxy), NULL },
	{ "oauth2_refresh_token_file", K_STR,	F(oauth2_refresh_token_file), NULL },
	{ "auto_from",		K_BOOL,		F(auto_from), NULL },
	{ "add_missing_from_header", K_MISSING,	F(set_from), NULL },
	{ "add_missing_date_header", K_MISSING,	F(set_date), NULL },
};

/* The string members of struct account, for deep copies and frees. */
static const size_t strfields[] = {
	F(name), F(host), F(trust_file), F(user), F(password), F(from),
	F(domain), F(file), F(source_ip), F(key_file), F(cert_file),
	F(host_override), F(dsn_notify), F(dsn_return), F(passwordeval),
	F(from_full_name), F(maildomain), F(aliases), F(logfile), F(logtime),
	F(queue_dir), F(dkim_domain), F(dkim_selector), F(dkim_key_file),
	F(dkim_algorithm), F(dkim_headers), F(oauth2_provider),
	F(oauth2_tenant), F(oauth2_client_id), F(oauth2_client_secret),
	F(oauth2_client_secret_file), F(oauth2_token_url), F(oauth2_device_url),
	F(oauth2_auth_url), F(oauth2_scope), F(oauth2_trust_file),
	F(oauth2_proxy), F(oauth2_refresh_token_file), F(crl_file),
	F(password_file), F(priorities), F(dh_bits), F(ntlmdomain)
};

#undef F

#define STRF(a, off)	((char **)(void *)((char *)(a) + (off)))
#define INTF(a, off)	((int *)(void *)((char *)(a) + (off)))

static void
acct_defaults(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->tls = 1;		/* postern's one deliberate difference */
	a->starttls = 1;
	a->certcheck = 1;
	a->tls_min = 12;
	a->timeout = 60;
	a->remove_bcc = 1;	/* msmtp's default */
	a->queue = 1;
	a->retry_min = 5 * 60;
	a->retry_max = 4 * 60 * 60;
	a->lifetime = 5 * 24 * 60 * 60;
	a->from_override = 1;	/* msmtp's default */
	a->syslog = LOG_MAIL;	/* msmtp's is off: a system MTA logs */
	a->user_config = 1;
}

/* "90", "90s", "5m", "4h", "5d": seconds, at least 1, at most a year. */
int
conf_duration(const char *val, int *out)
{
	const char	*errstr;
	char		 num[16];
	size_t		 n;
	long long	 v, mul = 1;

	n = strspn(val, "0123456789");
	if (n == 0 || n >= sizeof(num))
		return -1;
	switch (val[n]) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 60 * 60;
		break;
	case 'd':
		mul = 24 * 60 * 60;
		break;
	default:
		return -1;
	}
	if (val[n] != '\0' && val[n + 1] != '\0')
		return -1;
	memcpy(num, val, n);
	num[n] = '\0';
	v = strtonum(num, 1, 366LL * 24 * 60 * 60, &errstr);
	if (errstr != NULL || v * mul > 366LL * 24 * 60 * 60)
		return -1;
	*out = (int)(v * mul);
	return 0;
}

/* The spool directory of an account. */
const char *
conf_queuedir(const struct account *a)
{
	return a->queue_dir != NULL ? a->queue_dir : SPOOLDIR;
}

static void
acct_free(struct account *a)
{
	size_t	i;

	if (a->password != NULL)
		freezero(a->password, strlen(a->password));
	a->password = NULL;
	if (a->oauth2_client_secret != NULL)
		explicit_bzero(a->oauth2_client_secret,
		    strlen(a->oauth2_client_secret));
	for (i = 0; i < sizeof(strfields) / sizeof(strfields[0]); i++) {
		free(*STRF(a, strfields[i]));
		*STRF(a, strfields[i]) = NULL;
	}
	for (i = 0; i < a->ndkim; i++) {
		free(a->dkim[i].selector);
		free(a->dkim[i].file);
		crypto_key_free(a->dkim[i].key);
	}
	free(a->dkim);
	a->dkim = NULL;
	a->ndkim = 0;
	for (i = 0; i < a->ndkim_h; i++)
		free(a->dkim_h[i]);
	free(a->dkim_h);
	a->dkim_h = NULL;
	a->ndkim_h = 0;
}

/* Copy every setting of src into dst, keeping dst's name and origin. */
static void
acct_inherit(struct account *dst, const struct account *src)
{
	char	*name = dst->name, *file = dst->file;
	size_t	 line = dst->line, i;

	dst->name = dst->file = NULL;
	acct_free(dst);
	*dst = *src;
	for (i = 0; i < sizeof(strfields) / sizeof(strfields[0]); i++) {
		char **p = STRF(dst, strfields[i]);

		if (*p != NULL)
			*p = xstrdup(*p);
	}
	free(dst->name);
	free(dst->file);
	dst->name = name;
	dst->file = file;
	dst->line = line;
}

static struct account *
conf_find(struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nacct; i++)
		if (strcmp(c->accts[i].name, name) == 0)
			return &c->accts[i];
	return NULL;
}

/*
 * Split "key value" and undo quoting.  The value is written back into
 * the line buffer; *val is NULL when the line has only a key.
 */
static int
split_line(char *line, char **key, char **val, const char *file, size_t ln,
    struct err *e)
{
	char	*p, *q;

	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	*key = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	q = p + strlen(p);
	while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
		*--q = '\0';
	*val = *p == '\0' ? NULL : p;
	if (*p != '"')
		return 0;
	/* "..." with \ escaping the next character, as msmtp. */
	for (q = p++; *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '\0')
			return err_set(e, ERR_CONFIG,
			    "%s:%zu: unterminated quoted value", file, ln);
		*q++ = *p;
	}
	if (p[1] != '\0')
		return err_set(e, ERR_CONFIG,
		    "%s:%zu: text after the closing quote", file, ln);
	*q = '\0';
	return 0;
}

/*
 * "AB:CD:..." or "abcd...": the 32 bytes of a SHA-256 fingerprint, as
 * openssl x509 -fingerprint -sha256 prints them, or as msmtp still
 * accepts, the 20 of a SHA-1 or the 16 of an MD5 one (weak: tls.c warns).
 */
static int
parse_fpr(struct account *a, const char *val)
{
	size_t	i, n = 0;
	char	hex[3];

	for (i = 0; val[i] != '\0' && n < sizeof(a->fpr); ) {
		if (!isxdigit((unsigned char)val[i]) ||
		    !isxdigit((unsigned char)val[i + 1]))
			return -1;
		hex[0] = val[i];
		hex[1] = val[i + 1];
		hex[2] = '\0';
		a->fpr[n++] = (unsigned char)strtoul(hex, NULL, 16);
		i += 2;
		if (val[i] == ':' && val[i + 1] != '\0')
			i++;
	}
	if ((n != 32 && n != 20 && n != 16) || val[i] != '\0')
		return -1;
	a->has_fpr = (int)n;
	return 0;
}

/*
 * DSN NOTIFY (RFC 3461 section 4.1) in its wire form: NULL for "off",
 * NEVER, or a list of SUCCESS, FAILURE, DELAY.  -1 when invalid.
 */
int
conf_notify(const char *val, char **out)
{
	char	*list, *w, *p, buf[64] = "";

	*out = NULL;
	if (strcmp(val, "off") == 0)
		return 0;
	if (strcasecmp(val, "never") == 0) {
		*out = xstrdup("NEVER");
		return 0;
	}
	p = list = xstrdup(val);
	while ((w = strsep(&p, ",")) != NULL) {
		if (strcasecmp(w, "success") != 0 &&
		    strcasecmp(w, "failure") != 0 &&
		    strcasecmp(w, "delay") != 0) {
			free(list);
			return -1;
		}
		if (buf[0] != '\0')
			(void)strlcat(buf, ",", sizeof(buf));
		for (; *w != '\0'; w++) {
			char c[2] = { (char)toupper((unsigned char)*w), '\0' };

			(void)strlcat(buf, c, sizeof(buf));
		}
	}
	free(list);
	*out = xstrdup(buf);
	return 0;
}

/* DSN RET (RFC 3461 section 4.3): NULL for "off", FULL or HDRS. */
int
conf_return(const char *val, char **out)
{
	*out = NULL;
	if (strcmp(val, "off") == 0)
		return 0;
	if (strcmp(val, "headers") == 0 || strcasecmp(val, "hdrs") == 0)
		*out = xstrdup("HDRS");
	else if (strcasecmp(val, "full") == 0)
		*out = xstrdup("FULL");
	else
		return -1;
	return 0;
}

static int
set_key(struct account *a, const struct key *k, const char *val,
    const char *file, size_t ln, struct err *e)
{
	const char	*errstr;
	char		**sp;

	switch (k->type) {
	case K_STR:
	case K_SECRET:
		sp = STRF(a, k->off);
		if (*sp != NULL && k->type == K_SECRET)
			explicit_bzero(*sp, strlen(*sp));
		free(*sp);
		*sp = val == NULL ? NULL : xstrdup(val);
		return 0;
	case K_BOOL:
		if (val == NULL || strcmp(val, "on") == 0)
			*INTF(a, k->off) = 1;
		else if (strcmp(val, "off") == 0)
			*INTF(a, k->off) = 0;
		else
			break;
		return 0;
	case K_PORT:
		if (val == NULL)
			break;
		a->port = (unsigned int)strtonum(val, 1, 65535, &errstr);
		if (errstr != NULL)
			break;
		return 0;
	case K_TIMEOUT:
		if (val != NULL && strcmp(val, "off") == 0) {
			a->timeout = 0;
			return 0;
		}
		if (val == NULL)
			break;
		a->timeout = (int)strtonum(val, 1, 86400, &errstr);
		if (errstr != NULL)
			break;
		return 0;
	case K_AUTH:
		if (val == NULL || strcmp(val, "on") == 0)
			a->auth = AUTH_ON;
		else if (strcmp(val, "off") == 0)
			a->auth = AUTH_OFF;
		else if ((a->auth = sasl_byname(val)) == AUTH_OFF)
			return err_set(e, ERR_CONFIG, "%s:%zu: auth: "
			    "unsupported mechanism '%s'", file, ln, val);
		return 0;
	case K_FPR:
		if (val == NULL) {
			a->has_fpr = 0;
			return 0;
		}
		if (parse_fpr(a, val) == -1)
			return err_set(e, ERR_CONFIG, "%s:%zu: tls_fingerprint: "
			    "not a SHA-256 fingerprint (32 hex bytes, as "
			    "AB:CD:...; SHA-1's 20 and MD5's 16 are accepted "
			    "too)", file, ln);
		return 0;
	case K_TLSVER:
		if (val != NULL && (strcmp(val, "TLSv1.2") == 0 ||
		    strcmp(val, "1.2") == 0))
			a->tls_min = 12;
		else if (val != NULL && (strcmp(val, "TLSv1.3") == 0 ||
		    strcmp(val, "1.3") == 0))
			a->tls_min = 13;
		else
			break;
		return 0;
	case K_NOTIFY:
	case K_RETURN:
		sp = STRF(a, k->off);
		free(*sp);
		*sp = NULL;
		if (val == NULL || (k->type == K_NOTIFY ?
		    conf_notify(val, sp) : conf_return(val, sp)) == -1)
			break;
		return 0;
	case K_SETFROM:
	case K_SETAUTO:
		if (val == NULL || strcmp(val, "auto") == 0)
			*INTF(a, k->off) = MSG_AUTO;
		else if (strcmp(val, "off") == 0)
			*INTF(a, k->off) = MSG_OFF;
		else if (strcmp(val, "on") == 0 && k->type == K_SETFROM)
			*INTF(a, k->off) = MSG_ON;
		else
	case K_DURATION:
		if (val == NULL || conf_duration(val, INTF(a, k->off)) == -1)
			break;
		return 0;
	case K_SYSLOG:
		if (val == NULL || strcmp(val, "on") == 0)
			a->syslog = LOG_MAIL;
		else if (strcmp(val, "off") == 0)
			a->syslog = -1;
		else if ((a->syslog = log_facility(val)) == -1)
			break;
		return 0;
	case K_FILE:
		sp = STRF(a, k->off);
		free(*sp);
		*sp = NULL;
		/* msmtp's "system": the system's trust store. */
		if (val != NULL && (k->off != offsetof(struct account,
		    trust_file) || strcmp(val, "system") != 0))
			*sp = subst_tilde(val);
		return 0;
	case K_PROTO:
		if (val != NULL && strcmp(val, "smtp") == 0)
			return 0;
		if (val != NULL && strcmp(val, "lmtp") == 0)
			return err_set(e, ERR_CONFIG, "%s:%zu: protocol lmtp is "
			    "not supported by postern: LMTP hands mail to a "
			    "local delivery agent, and postern only submits to "
			    "a smarthost over SMTP", file, ln);
		break;
	case K_MISSING:
		if (val == NULL || strcmp(val, "on") == 0)
			*INTF(a, k->off) = MSG_AUTO;
		else if (strcmp(val, "off") == 0)
			*INTF(a, k->off) = MSG_OFF;
		else
			break;
		return 0;
	case K_IGNORE:
		sp = STRF(a, k->off);
		free(*sp);
		*sp = val == NULL ? NULL : xstrdup(val);
		return 0;
	case K_REJECT:
		return err_set(e, ERR_CONFIG, "%s:%zu: key '%s' is not "
		    "supported by postern: %s", file, ln, k->name, k->why);
	}
	return err_set(e, ERR_CONFIG, "%s:%zu: %s: invalid value '%s'",
	    file, ln, k->name, val == NULL ? "" : val);
}

/* "account NAME [: PARENT[,PARENT...]]" */
static int
new_account(struct conf *c, const struct account *defs, char *val,
    const char *file, size_t ln, struct err *e)
{
	struct account	*a, *parent;
	char		*name, *parents, *p;

	if (val == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account needs a name",
		    file, ln);
	name = val;
	if ((parents = strchr(val, ':')) != NULL)
		*parents++ = '\0';
	for (p = name + strlen(name); p > name && isspace((unsigned char)p[-1]);)
		*--p = '\0';
	if (*name == '\0' || strpbrk(name, " \t") != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: invalid account name",
		    file, ln);
	if (conf_find(c, name) != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s' is "
		    "defined twice", file, ln, name);
	c->accts = xreallocarray(c->accts, c->nacct + 1, sizeof(*c->accts));
	a = &c->accts[c->nacct++];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	a->file = xstrdup(file);
	a->line = ln;
	acct_inherit(a, defs);
	while (parents != NULL) {
		char *next = strchr(parents, ',');

		if (next != NULL)
			*next++ = '\0';
		parents += strspn(parents, " \t");
		parents[strcspn(parents, " \t")] = '\0';
		if ((parent = conf_find(c, parents)) == NULL || parent == a)
			return err_set(e, ERR_CONFIG, "%s:%zu: account '%s' "
			    "is not defined (yet)", file, ln, parents);
		acct_inherit(a, parent);
		parents = next;
	}
	return 0;
}

/*
 * eval CMD: the line is replaced by the first line the command prints
 * (msmtp).  It runs with the caller's own rights: the group is dropped
 * around it, and an exec'd program cannot take it back.  evalok is 0
 * for a system file read with the setgid group that root does not own,
 * -1 for the line an eval printed (no second round).
 */
static int	conf_line(struct conf *, struct account *, struct account **,
		    char *, int, const char *, size_t, struct err *);

static int
eval_line(struct conf *c, struct account *defs, struct account **cur,
    const char *cmd, int evalok, const char *file, size_t ln,
    struct err *e)
{
	FILE	*fp;
	char	*out = NULL;
	size_t	 cap = 0;
	ssize_t	 len;
	int	 status, rc, held = getegid() != getgid();
	void	(*pipe_was)(int);

	if (cmd == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: eval needs a command",
		    file, ln);
	if (evalok == -1)
		return err_set(e, ERR_CONFIG, "%s:%zu: eval: the command "
		    "printed another eval line", file, ln);
	if (!evalok)
		return err_set(e, ERR_CONFIG, "%s:%zu: eval: refused in a "
		    "system file that root does not own", file, ln);
	if (held)
		priv_drop();
	pipe_was = signal(SIGPIPE, SIG_DFL);
	fp = popen(cmd, "r");
	(void)signal(SIGPIPE, pipe_was);
	if (fp == NULL) {
		if (held)
			priv_hold();
		return err_set(e, ERR_CONFIG, "%s:%zu: eval: %s", file, ln,
		    strerror(errno));
	}
	len = getline(&out, &cap, fp);
	while (len != -1 && fgetc(fp) != EOF)
		continue;	/* the rest is not ours, but let it finish */
	status = pclose(fp);
	if (held)
		priv_hold();
	if (status != 0 || len == -1) {
		freezero(out, cap);
		return err_set(e, ERR_CONFIG, "%s:%zu: eval: the command %s",
		    file, ln, status != 0 ? "failed" : "printed nothing");
	}
	if (len > 0 && out[len - 1] == '\n')
		out[--len] = '\0';
	if (memchr(out, '\0', (size_t)len) != NULL ||
	    strchr(out, '\r') != NULL)
		rc = err_set(e, ERR_CONFIG, "%s:%zu: eval: the command printed "
		    "a NUL or carriage return", file, ln);
	else
		rc = conf_line(c, defs, cur, out, -1, file, ln, e);
	freezero(out, cap);
	return rc;
}

static int
conf_line(struct conf *c, struct account *defs, struct account **cur,
    char *line, int evalok, const char *file, size_t ln, struct err *e)
{
	char	*key, *val;
	size_t	 i;

	if (split_line(line, &key, &val, file, ln, e) == -1)
		return -1;
	if (*key == '\0' || *key == '#')
		return 0;
	if (strcmp(key, "eval") == 0)
		return eval_line(c, defs, cur, val, evalok, file, ln, e);
	if (strcmp(key, "defaults") == 0) {
		*cur = defs;
		return 0;
	}
	if (strcmp(key, "account") == 0) {
		if (new_account(c, defs, val, file, ln, e) == -1)
			return -1;
		*cur = &c->accts[c->nacct - 1];
		return 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return err_set(e, ERR_CONFIG, "%s:%zu: unknown key '%s'",
		    file, ln, key);
	if (!HAVE_OAUTH2 && strncmp(key, "oauth2_", 7) == 0)
		return err_set(e, ERR_CONFIG, "%s:%zu: %s: postern was built "
		    "without OAuth2 (libcurl and json-c; ./configure OAUTH2=1)",
		    file, ln, key);
	return set_key(*cur, &keys[i], val, file, ln, e);
}

/*
 * Parse an open configuration stream.  Keys before any "defaults" or
 * "account" line go to the defaults; a file without any account line
 * describes the one account "default".
 */
static int	parse_stream(struct conf *, const char *, FILE *, int,
		    struct err *);

int
conf_parse(struct conf *c, const char *file, FILE *fp, struct err *e)
{
	return parse_stream(c, file, fp, 1, e);
}

static int
parse_stream(struct conf *c, const char *file, FILE *fp, int evalok,
    struct err *e)
{
	struct account	 defs, *cur = &defs;
	char		*line = NULL;
	size_t		 cap = 0, ln = 0;
	ssize_t		 len;
	int		 rc = 0;

	memset(c, 0, sizeof(*c));
	c->path = xstrdup(file);
	acct_defaults(&defs);
	while (rc == 0 && (len = getline(&line, &cap, fp)) != -1) {
		ln++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (memchr(line, '\0', (size_t)len) != NULL)
			rc = err_set(e, ERR_CONFIG, "%s:%zu: NUL byte in line",
			    file, ln);
		else if (memchr(line, '\r', (size_t)len) != NULL)
			rc = err_set(e, ERR_CONFIG, "%s:%zu: carriage return "
			    "in line", file, ln);
		else
			rc = conf_line(c, &defs, &cur, line, evalok, file, ln,
			    e);
		explicit_bzero(line, cap);
	}
	if (rc == 0 && ferror(fp))
		rc = err_set(e, ERR_CONFIG, "%s: %s", file, strerror(errno));
	freezero(line, cap);
	if (rc == 0 && c->nacct == 0) {
		c->accts = xcalloc(1, sizeof(*c->accts));
		c->nacct = 1;
		c->accts[0].name = xstrdup("default");
		c->accts[0].file = xstrdup(file);
		c->accts[0].line = 1;
		acct_inherit(&c->accts[0], &defs);
	}
	acct_free(&defs);
	if (rc == -1)
		conf_free(c);
	return rc;
}

/*
 * May the file with status st hold a password?  Only when group and
 * others cannot read it, with one exception: the installed system file,
 * root:postern 0640, which the setgid binary reads through its group
 * (postern(8), "Privileges").  That group is the one the binary runs
 * setgid to, whoever the caller is: the queue runner user, whose own
 * group it is, too.  A caller's own group that merely matches the file's
 * (no setgid install) is no such group, unless it is named postern.
 */
static int
secret_ok(const char *path, const struct stat *st)
{
	struct group	*gr;

	if ((st->st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return 1;
	if (strcmp(path, POSTERN_CONF) != 0 || st->st_uid != 0 ||
	    st->st_gid != priv_group() ||
	    (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0)
		return 0;
	if (priv_group() != getgid())
		return 1;
	return (gr = getgrgid(st->st_gid)) != NULL &&
	    strcmp(gr->gr_name, POSTERN_GROUP) == 0;
}

/* --- DKIM keys ----------------------------------------------------------- */

/* Signed when present (RFC 6376 5.4.1); From first, always. */
static const char *const dkim_default_h[] = {
	"from", "reply-to", "sender", "subject", "date", "to", "cc",
	"in-reply-to", "references", "message-id", "mime-version",
	"content-type", "content-transfer-encoding", "content-id",
	"content-description", "resent-date", "resent-from", "resent-sender",
	"resent-to", "resent-cc", "resent-message-id", "list-id", "list-help",
	"list-unsubscribe", "list-subscribe", "list-post", "list-owner",
	"list-archive"
};

/*
 * The *n words of v, separated by any of seps, without white space
 * around them; NULL after the last.
 */
static char **
split_list(const char *v, const char *seps, size_t *n)
{
	char	**out;
	size_t	  k, w;

	*n = 0;
	out = xcalloc(1, sizeof(*out));
	for (;;) {
		v += strspn(v, seps);
		v += strspn(v, " \t");
		if (*v == '\0')
			break;
		k = strcspn(v, seps);
		for (w = k; w > 0 && (v[w - 1] == ' ' || v[w - 1] == '\t'); w--)
			continue;
		if (w > 0) {
			out = xreallocarray(out, *n + 2, sizeof(*out));
			xasprintf(&out[(*n)++], "%.*s", (int)w, v);
			out[*n] = NULL;
		}
		v += k;
	}
	return out;
}

static void
free_list(char **v)
{
	char	**p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* Only letters, digits and the characters in extra. */
static int
dkim_name_ok(const char *s, const char *extra)
{
	if (*s == '\0' || *s == '.' || *s == '-')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return 0;
	return 1;
}

/*
 * A key is read as the configuration's secrets are: its owner alone may
 * read it, or it is root:postern 0640 for the setgid binary.
 */
static int
key_ok(const struct stat *st)
{
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return 1;
	return st->st_uid == 0 && st->st_gid == priv_group() &&
	    priv_group() != getgid() &&
	    (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) == 0;
}

static int
dkim_key(const struct account *a, struct dkimkey *k, const char *alg,
    struct err *e)
{
	struct stat	 st;
	FILE		*fp;
	const char	*why;
	int		 fd, rc;

	if ((fd = open(k->file, O_RDONLY | O_CLOEXEC)) == -1)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s: %s", a->file, a->line, a->name,
		    k->file, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s: not a regular file", a->file, a->line,
		    a->name, k->file);
	}
	if (!key_ok(&st)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s is open to others (mode %03o; "
		    "chmod 600 it)", a->file, a->line, a->name, k->file,
		    (unsigned int)(st.st_mode & 0777));
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s: %s", a->file, a->line, a->name,
		    k->file, strerror(errno));
	}
	rc = crypto_key_read(fp, &k->key, &why);
	fclose(fp);
	if (rc == -1)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s: %s", a->file, a->line, a->name,
		    k->file, why);
	if (crypto_key_type(k->key) == CRYPTO_KEY_RSA &&
	    crypto_key_bits(k->key) < 2048)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file %s: an RSA key of %d bits (DKIM keys need "
		    "2048 or more)", a->file, a->line, a->name, k->file,
		    crypto_key_bits(k->key));
	if (alg != NULL && strcmp(alg, crypto_key_type(k->key) ==
	    CRYPTO_KEY_RSA ? "rsa-sha256" : "ed25519-sha256") != 0)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_algorithm says %s but %s holds an %s key", a->file,
		    a->line, a->name, alg, k->file,
		    crypto_key_type(k->key) == CRYPTO_KEY_RSA ? "RSA" :
		    "Ed25519");
	return 0;
}

/* dkim_headers, or the default list: lower case, no repeats, From first. */
static int
dkim_fields(struct account *a, struct err *e)
{
	char	**v;
	size_t	  n, i, j;

	if (a->dkim_headers == NULL) {
		n = sizeof(dkim_default_h) / sizeof(dkim_default_h[0]);
		v = xcalloc(n + 1, sizeof(*v));
		for (i = 0; i < n; i++)
			v[i] = xstrdup(dkim_default_h[i]);
	} else
		v = split_list(a->dkim_headers, ":, \t", &n);
	a->dkim_h = xcalloc(n + 1, sizeof(*a->dkim_h));
	a->dkim_h[a->ndkim_h++] = xstrdup("from");
	for (i = 0; i < n; i++) {
		for (j = 0; v[i][j] != '\0'; j++) {
			if ((unsigned char)v[i][j] < 33 ||
			    (unsigned char)v[i][j] > 126) {
				err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
				    "dkim_headers: '%s' is not a header field "
				    "name", a->file, a->line, a->name, v[i]);
				free_list(v);
				return -1;
			}
			v[i][j] = (char)tolower((unsigned char)v[i][j]);
		}
		for (j = 0; j < a->ndkim_h; j++)
			if (strcmp(a->dkim_h[j], v[i]) == 0)
				break;
		if (j == a->ndkim_h)
			a->dkim_h[a->ndkim_h++] = xstrdup(v[i]);
	}
	free_list(v);
	return 0;
}

/*
 * Load the DKIM keys of account a: dkim_key_file, dkim_selector and
 * dkim_algorithm are lists (commas or white space; key files: commas),
 * paired in order, one signature each.
 */
static int
dkim_load(struct account *a, struct err *e)
{
	char	**files = NULL, **sels = NULL, **algs = NULL;
	size_t	  nfiles = 0, nsels = 0, nalgs = 0, i;
	int	  rc = -1;

	if (a->dkim_key_file == NULL) {
		const char *set = a->dkim_domain != NULL ? "dkim_domain" :
		    a->dkim_selector != NULL ? "dkim_selector" :
		    a->dkim_algorithm != NULL ? "dkim_algorithm" :
		    a->dkim_headers != NULL ? "dkim_headers" : NULL;

		if (set == NULL)
			return 0;
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': %s "
		    "without dkim_key_file", a->file, a->line, a->name, set);
	}
	if (a->dkim_domain == NULL || a->dkim_selector == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_key_file needs dkim_domain and dkim_selector",
		    a->file, a->line, a->name);
	if (!dkim_name_ok(a->dkim_domain, ".-"))
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "dkim_domain '%s' is not a domain name", a->file, a->line,
		    a->name, a->dkim_domain);
	files = split_list(a->dkim_key_file, ",", &nfiles);
	sels = split_list(a->dkim_selector, ", \t", &nsels);
	if (a->dkim_algorithm != NULL)
		algs = split_list(a->dkim_algorithm, ", \t", &nalgs);
	if (nfiles == 0 || nsels != nfiles || (algs != NULL &&
	    nalgs != nfiles)) {
		err_set(e, ERR_CONFIG, "%s:%zu: account '%s': %zu "
		    "dkim_key_file, %zu dkim_selector%s: one of each per "
		    "signature", a->file, a->line, a->name, nfiles, nsels,
		    algs != NULL ? " and a different number of "
		    "dkim_algorithm" : "");
		goto out;
	}
	for (i = 0; algs != NULL && algs[i] != NULL; i++)
		if (strcmp(algs[i], "rsa-sha256") != 0 &&
		    strcmp(algs[i], "ed25519-sha256") != 0) {
			err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
			    "dkim_algorithm '%s': rsa-sha256 or "
			    "ed25519-sha256", a->file, a->line, a->name,
			    algs[i]);
			goto out;
		}
	a->dkim = xcalloc(nfiles, sizeof(*a->dkim));
	for (i = 0; i < nfiles; i++) {
		if (!dkim_name_ok(sels[i], ".-_")) {
			err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
			    "dkim_selector '%s' is not a selector", a->file,
			    a->line, a->name, sels[i]);
			goto out;
		}
		a->dkim[i].file = xstrdup(files[i]);
		a->dkim[i].selector = xstrdup(sels[i]);
		a->ndkim++;
		if (dkim_key(a, &a->dkim[i], algs != NULL ? algs[i] : NULL,
		    e) == -1)
			goto out;
	}
	rc = dkim_fields(a, e);
out:
	free_list(files);
	free_list(sels);
	free_list(algs);
	return rc;
}

/*
 * Read the configuration file.  A file that holds a password must not be
 * readable by group or others (but see secret_ok).  With keys, for a
 * mode that may send, the DKIM keys are loaded now, while the caller
 * holds the group that may read them.
 */
int
conf_load(struct conf *c, const char *path, int keys, struct err *e)
{
	FILE		*fp;
	char		*iobuf;
	struct stat	 st;
	size_t		 i;
	int		 rc;

	memset(c, 0, sizeof(*c));
	if ((fp = fopen(path, "r")) == NULL)
		return err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	/* stdio's buffer holds the passwords too: ours, wiped after. */
	iobuf = xcalloc(1, BUFSIZ);
	(void)setvbuf(fp, iobuf, _IOFBF, BUFSIZ);
	if (fstat(fileno(fp), &st) == -1)
		rc = err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	else	/* eval runs nothing a user put in a file the group reads */
		rc = parse_stream(c, path, fp, getegid() == getgid() ||
		    st.st_uid == 0, e);
	fclose(fp);
	freezero(iobuf, BUFSIZ);
	if (rc == -1)
		return -1;
	for (i = 0; i < c->nacct; i++) {
		if (c->accts[i].password == NULL &&
		    c->accts[i].oauth2_client_secret == NULL)
			continue;
		if (!secret_ok(path, &st)) {
			conf_free(c);
			return err_set(e, ERR_CONFIG, "%s: holds a password "
			    "but is readable by others (mode %03o; "
			    "chmod 600 it)", path,
			    (unsigned int)(st.st_mode & 0777));
		}
		break;
	}
	for (i = 0; i < c->nacct; i++)
		if (oauth2_conf(&c->accts[i], e) == -1) {
			conf_free(c);
			return -1;
		}
	if (keys && conf_keys(c, e) == -1) {
		conf_free(c);
		return -1;
	}
	return 0;
}

/* Load the DKIM keys of every account, for a mode that may send. */
int
conf_keys(struct conf *c, struct err *e)
{
	size_t	i;

	for (i = 0; i < c->nacct; i++)
		if (c->accts[i].ndkim == 0 && dkim_load(&c->accts[i], e) == -1)
			return -1;
	return 0;
}

/*
 * Does the envelope sender from match an account's from (msmtp):
 * a shell pattern when it holds ?, * or [, else the address, ignoring
 * case.
 */
static int
from_matches(const char *from, const char *pat)
{
	if (subst_wildcard(pat))
		return fnmatch(pat, from, 0) == 0;
	return strcasecmp(from, pat) == 0;
}

/*
 * The first account, in file order, whose from matches the envelope
 * sender, or, for user+detail@domain, user@domain (msmtp's
 * find_account_by_envelope_from).  The from is matched as written,
 * before its substitutions, as msmtp does.
 */
static struct account *
find_by_from(struct conf *c, const char *from)
{
	struct account	*a = NULL;
	const char	*plus = strchr(from, '+'), *at = strchr(from, '@');
	char		*bare = NULL;
	size_t		 i;

	if (plus != NULL && at != NULL && plus < at)
		xasprintf(&bare, "%.*s%s", (int)(plus - from), from, at);
	for (i = 0; a == NULL && i < c->nacct; i++) {
		const char *f = c->accts[i].from;

		if (f == NULL)
			continue;
		if (from_matches(from, f) || (bare != NULL &&
		    strchr(f, '+') == NULL && from_matches(bare, f)))
			a = &c->accts[i];
	}
	free(bare);
	return a;
}

/*
 * The account to use: the one named with -a; else, as in msmtp, the one
 * whose "from" matches the envelope sender; else "default".  *how says
 * which: 0 by name, 1 by the sender, 2 the default after no match.
 */
struct account *
conf_choose(struct conf *c, const char *name, const char *from, int *how,
    struct err *e)
{
	struct account	*a = NULL;

	*how = 0;
	if (name != NULL) {
		if ((a = conf_find(c, name)) == NULL) {
			err_set(e, ERR_CONFIG, "%s: no account '%s'",
			    c->path, name);
			return NULL;
		}
	} else if (from != NULL && (a = find_by_from(c, from)) != NULL)
		*how = 1;
	else
		*how = 2;
	if (a == NULL && (a = conf_find(c, "default")) == NULL) {
		err_set(e, ERR_CONFIG, "%s: no account 'default' and none "
		    "chosen with -a", c->path);
		return NULL;
	}
	if (a->host == NULL) {
		err_set(e, ERR_CONFIG, "%s:%zu: account '%s' has no host",
		    a->file, a->line, a->name);
		return NULL;
	}
	return a;
}

struct account *
conf_account(struct conf *c, const char *name, const char *from,
    struct err *e)
{
	int	how;

	return conf_choose(c, name, from, &how, e);
}

/*
 * The envelope sender account a gives (msmtp's order): auto_from's
 * user@maildomain, which wins over everything; else -f (cmdline, NULL
 * when not given) unless allow_from_override is off; else from, its
 * patterns substituted.  NULL in *out when none is set: the caller's
 * login@maildomain is postern's default.  A pattern (wildcard) from is
 * an error unless -f gave the address.
 */
int
conf_from(const struct account *a, const char *cmdline, char **out,
    struct err *e)
{
	char	*user, *dom;

	*out = NULL;
	if (a->auto_from) {
		user = subst_user();
		dom = msg_maildomain(a->maildomain);
		xasprintf(out, "%s@%s", user, dom);
		free(user);
		free(dom);
		return 0;
	}
	if (cmdline != NULL && a->from_override) {
		*out = xstrdup(cmdline);
		return 0;
	}
	if (a->from == NULL)
		return 0;
	if (subst_wildcard(a->from))
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': from %s "
		    "is a pattern, not an address: give the sender with -f",
		    a->file, a->line, a->name, a->from);
	if ((*out = subst_from(a->from, e)) == NULL) {
		char msg[ERR_MSGLEN];

		(void)strlcpy(msg, e->msg, sizeof(msg));
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': %s",
		    a->file, a->line, a->name, msg);
	}
	return 0;
}

/* Why postern ignores or refuses a key of msmtp's (--pretend). */
const char *
conf_why(const char *key)
{
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0 && keys[i].why != NULL)
			return keys[i].why;
	return "";
}

/*
 * Set key to val in the account named acct, made from the built-in
 * defaults when there is none: the environment's POSTERN_<KEY>
 * (userconf.c).  origin names the setting in errors.
 */
int
conf_set(struct conf *c, const char *acct, const char *key,
    const char *val, const char *origin, struct err *e)
{
	struct account	*a;
	size_t		 i, n;
	char		 msg[ERR_MSGLEN];

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return err_set(e, ERR_CONFIG, "%s: unknown key '%s'", origin,
		    key);
	if ((a = conf_find(c, acct)) == NULL) {
		c->accts = xreallocarray(c->accts, c->nacct + 1,
		    sizeof(*c->accts));
		a = &c->accts[c->nacct++];
		acct_defaults(a);
		a->name = xstrdup(acct);
		a->file = xstrdup(origin);
		a->line = 0;
	}
	/* The value is one line, as in a file. */
	if (strpbrk(val, "\r\n") != NULL)
		return err_set(e, ERR_CONFIG, "%s: line break in the value",
		    origin);
	if (set_key(a, &keys[i], *val == '\0' ? NULL : val, origin, 0,
	    e) == 0)
		return 0;
	/* "origin:0: reason" from set_key: no line to name. */
	n = strlen(origin) + 4;
	(void)strlcpy(msg, strlen(e->msg) > n ? e->msg + n : e->msg,
	    sizeof(msg));
	return err_set(e, ERR_CONFIG, "%s: %s", origin, msg);
}

/*
 * May a password file with status st be read?  It must be a regular file
 * owned by root or the caller.  Group and others may not read it, as for
 * any secret (key_ok(): the setgid install's root:postern 0640 too),
 * unless it sits on a read-only mount: what Docker and Kubernetes make
 * of a mounted secret, 0644 by default (postern.conf(5) says why that
 * is safe there and not elsewhere).
 */
static const char *
password_file_bad(int fd, const struct stat *st)
{
	struct statvfs	vfs;

	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != 0 && st->st_uid != getuid())
		return "owned by another user";
	if (key_ok(st))
		return NULL;
	if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) &&
	    (st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return NULL;
	return "readable by others on a writable file system (chmod 600 it)";
}

/*
 * password_file: the password is the file's first line, its line end
 * cut off (a Docker or Kubernetes secret).  A file the system
 * configuration names is opened with the setgid group held (no-op after
 * -C or for a user's file, which give the group up for good).
 */
static int
password_file(struct account *a, struct err *e)
{
	struct stat	 st;
	FILE		*fp;
	const char	*why = NULL;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 len;
	int		 fd;

	priv_hold();
	/* Kubernetes mounts a secret as a symbolic link: follow it. */
	fd = open(a->password_file, O_RDONLY | O_CLOEXEC);
	priv_drop();
	if (fd == -1)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "password_file %s: %s", a->file, a->line, a->name,
		    a->password_file, strerror(errno));
	if (fstat(fd, &st) == -1 || (why = password_file_bad(fd, &st)) !=
	    NULL || (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "password_file %s: %s", a->file, a->line, a->name,
		    a->password_file, why != NULL ? why : strerror(errno));
	}
	len = getline(&line, &cap, fp);
	fclose(fp);
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len <= 0 || memchr(line, '\0', (size_t)len) != NULL) {
		freezero(line, cap);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "password_file %s: %s", a->file, a->line, a->name,
		    a->password_file, len == -1 || len == 0 ?
		    "the first line is empty" : "NUL byte in the first line");
	}
	a->password = xstrdup(line);
	freezero(line, cap);
	return 0;
}

/*
 * passwordeval: the password is what the command prints, a trailing
 * newline cut off (msmtp), so a token helper can supply it.  The system
 * configuration's runs with the spool group in a clean process, one of
 * -C with the caller's own rights (pweval.c); the output is wiped once
 * it is copied.
 */
int
conf_password(struct account *a, struct err *e)
{
	char	*out = NULL;
	size_t	 len = 0;
	int	 status, sys;

	if (a->password == NULL && a->password_file != NULL)
		return password_file(a, e);
	if (a->password != NULL || a->passwordeval == NULL)
		return 0;
	sys = strcmp(a->file, POSTERN_CONF) == 0;
	if (pweval_run(a->passwordeval, sys, &out, &len, &status) == -1)
		return err_set(e, ERR_CONFIG, "passwordeval: %s",
		    strerror(errno));
	if (status != 0 || out == NULL) {
		if (out != NULL)
			freezero(out, len + 1);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "passwordeval failed (status %d)", a->file, a->line,
		    a->name, status);
	}
	if (len > 0 && out[len - 1] == '\n')
		out[--len] = '\0';
	if (len > 0 && out[len - 1] == '\r')
		out[--len] = '\0';
	if (memchr(out, '\0', len) != NULL || strpbrk(out, "\r\n") != NULL) {
		freezero(out, len + 1);
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "passwordeval printed more than one line", a->file,
		    a->line, a->name);
	}
	a->password = out;
	return 0;
}

/* The port: as msmtp, 25, or 465 for implicit TLS. */
unsigned int
conf_port(const struct account *a)
{
	if (a->port != 0)
		return a->port;
	return a->tls && !a->starttls ? 465 : 25;
}

void
conf_free(struct conf *c)
{
	size_t	i;

	for (i = 0; i < c->nacct; i++)
		acct_free(&c->accts[i]);
	free(c->accts);
	free(c->path);
	memset(c, 0, sizeof(*c));
}
