/*
 * The sendmail front end: options, the mode, and the one place where an
 * error class becomes an exit status (sysexits.h, table in DESIGN.md and
 * postern(8)).  Everything else returns a struct err up to here.
 */
#include "config.h"

#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/opensslv.h>

#include "extern.h"

struct opts {
	const char	 *conffile;	/* -C */
	const char	 *from;		/* -f, -r */
	const char	 *fullname;	/* -F */
	const char	 *account;	/* -a */
	const char	 *notify;	/* -N */
	const char	 *ret;		/* -R */
	const char	 *envid;	/* -V */
	int		  verbose;	/* -v */
	int		  ignoredots;	/* -i, -oi */
	int		  check;	/* --check */
	int		  extract;	/* -t */
	char		**rcpts;
	int		  nrcpt;
};

static const struct {
	enum errclass	cls;
	int		status;
} exits[] = {
	{ ERR_NONE, EX_OK },
	{ ERR_USAGE, EX_USAGE },
	{ ERR_DATA, EX_DATAERR },
	{ ERR_NOUSER, EX_NOUSER },
	{ ERR_UNAVAIL, EX_UNAVAILABLE },
	{ ERR_SOFTWARE, EX_SOFTWARE },
	{ ERR_OS, EX_OSERR },
	{ ERR_CANTCREAT, EX_CANTCREAT },
	{ ERR_IO, EX_IOERR },
	{ ERR_TEMP, EX_TEMPFAIL },
	{ ERR_PROTO, EX_PROTOCOL },
	{ ERR_NOPERM, EX_NOPERM },
	{ ERR_CONFIG, EX_CONFIG },
	/* TLS policy failures are permanent until the queue exists. */
	{ ERR_TLSPOLICY, EX_UNAVAILABLE },
};

static int
exit_status(enum errclass cls)
{
	size_t	i;

	for (i = 0; i < sizeof(exits) / sizeof(exits[0]); i++)
		if (exits[i].cls == cls)
			return exits[i].status;
	return EX_SOFTWARE;
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-itv] [-a account] [-C file] [-F name] "
	    "[-f sender] [-N dsn] [-R ret] [-V envid] [--] recipient ...\n"
	    "       %s --check [-a account] [-C file]\n", getprogname(),
	    getprogname());
	exit(EX_USAGE);
}

static void
version(void)
{
	printf("postern %s\n", VERSION);
	printf("TLS library: %s\n", OPENSSL_VERSION_TEXT);
	printf("system configuration: %s\n", POSTERN_CONF);
	printf("spool directory: %s\n", SPOOLDIR);
	exit(EX_OK);
}

/* The value of an option: the rest of the word, or the next argument. */
static const char *
optval(char **argv, int *i, const char *rest, char opt)
{
	if (*rest != '\0')
		return rest;
	if (argv[*i + 1] == NULL) {
		log_warnx("option -%c needs a value", opt);
		usage();
	}
	return argv[++*i];
}

/* Options as sendmail has them: clustered flags, values attached or not. */
static void
parse_args(int argc, char **argv, struct opts *o)
{
	const char	*p;
	int		 i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		p = argv[i];
		if (strcmp(p, "--") == 0) {
			i++;
			break;
		}
		if (p[0] != '-' || p[1] == '\0')
			break;
		if (strcmp(p, "--version") == 0)
			version();
		if (strcmp(p, "--help") == 0)
			usage();
		if (strcmp(p, "--check") == 0) {
			o->check = 1;
			continue;
		}
		for (p++; *p != '\0'; p++) {
			switch (*p) {
			case 'i':
				o->ignoredots = 1;
				continue;
			case 'v':
				o->verbose = 1;
				continue;
			case 't':
				o->extract = 1;
				continue;
			case 'C':
				o->conffile = optval(argv, &i, p + 1, *p);
				break;
			case 'f':
			case 'r':
				o->from = optval(argv, &i, p + 1, *p);
				break;
			case 'F':
				o->fullname = optval(argv, &i, p + 1, *p);
				break;
			case 'a':
				o->account = optval(argv, &i, p + 1, *p);
				break;
			case 'N':
				o->notify = optval(argv, &i, p + 1, *p);
				break;
			case 'R':
				o->ret = optval(argv, &i, p + 1, *p);
				break;
			case 'V':
				o->envid = optval(argv, &i, p + 1, *p);
				break;
			case 'o':
				if (strcmp(p + 1, "i") == 0)
					o->ignoredots = 1;
				break;
			case 'b':
				if (strcmp(p + 1, "m") != 0) {
					log_warnx("mode -b%s is not "
					    "supported", p + 1);
					usage();
				}
				break;
			default:
				log_warnx("unknown option -%c", *p);
				usage();
			}
			break;	/* the rest of this word was a value */
		}
	}
	o->rcpts = argv + i;
	o->nrcpt = argc - i;
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
 * The DSN request (RFC 3461): -N, -R and -V, else the account's
 * dsn_notify and dsn_return.
 */
static int
dsn_options(const struct opts *o, const struct account *a,
    struct envelope *env, struct err *e)
{
	if (o->notify != NULL) {
		if (conf_notify(o->notify, &env->dsn_notify) == -1)
			return err_set(e, ERR_USAGE, "-N %s: expected never, "
			    "or success, failure and delay separated by "
			    "commas", o->notify);
	} else if (a->dsn_notify != NULL)
		env->dsn_notify = xstrdup(a->dsn_notify);
	if (o->ret != NULL) {
		if (conf_return(o->ret, &env->dsn_ret) == -1)
			return err_set(e, ERR_USAGE, "-R %s: expected full "
			    "or hdrs", o->ret);
	} else if (a->dsn_return != NULL)
		env->dsn_ret = xstrdup(a->dsn_return);
	if (o->envid != NULL) {
		/* RFC 3461 section 4.4: printable ASCII, at most 100. */
		const unsigned char *p;

		for (p = (const unsigned char *)o->envid; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				return err_set(e, ERR_USAGE, "-V: invalid "
				    "character 0x%02x in the envelope id", *p);
		if (strlen(o->envid) > 100)
			return err_set(e, ERR_USAGE, "-V: the envelope id is "
			    "longer than 100 characters");
		env->envid = xstrdup(o->envid);
	}
	return 0;
}

/*
 * Build the envelope from the options, checking every address.  A bare
 * local name as the sender is qualified with maildomain (DESIGN.md).
 */
static int
make_envelope(const struct opts *o, const struct account *a,
    const char *fqdn, struct envelope *env, struct err *e)
{
	char	*q;
	int	 i;

	memset(env, 0, sizeof(*env));
	if (dsn_options(o, a, env, e) == -1)
		return -1;
	if (o->from != NULL && (strcmp(o->from, "<>") == 0 ||
	    *o->from == '\0'))
		env->from = xstrdup("");
	else if (o->from != NULL)
		env->from = xstrdup(o->from);
	else if (a->from != NULL)
		env->from = xstrdup(a->from);
	else
		env->from = default_sender(fqdn);
	if (*env->from != '\0' && addr_valid_arg(env->from, e) == -1)
		return -1;
	q = addr_qualify(env->from, fqdn);
	free(env->from);
	env->from = q;
	env->rcpts = xcalloc((size_t)o->nrcpt, sizeof(*env->rcpts));
	for (i = 0; i < o->nrcpt; i++) {
		if (addr_valid_arg(o->rcpts[i], e) == -1)
			return -1;
		env->rcpts[env->nrcpt++].addr = xstrdup(o->rcpts[i]);
	}
	return 0;
}

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

static void
envelope_free(struct envelope *env)
{
	size_t	i;

	for (i = 0; i < env->nrcpt; i++)
		free(env->rcpts[i].addr);
	free(env->rcpts);
	free(env->from);
	free(env->dsn_notify);
	free(env->dsn_ret);
	free(env->envid);
}

/*
 * Name each recipient the smarthost refused; the status says whether any
 * was refused for good (67) or only for now (75).
 */
static int
report_rcpts(const struct envelope *env)
{
	size_t	i;
	int	status = EX_OK;

	for (i = 0; i < env->nrcpt; i++) {
		const struct rcpt *r = &env->rcpts[i];

		if (r->state == RCPT_PERMFAIL) {
			log_warnx("<%s>: recipient refused: %d %s", r->addr,
			    r->reply.code, r->reply.text);
			status = EX_NOUSER;
		} else if (r->state == RCPT_TEMPFAIL) {
			log_warnx("<%s>: recipient deferred: %d %s", r->addr,
			    r->reply.code, r->reply.text);
			if (status == EX_OK)
				status = EX_TEMPFAIL;
		}
	}
	return status;
}

static int
run(const struct opts *o, struct err *e)
{
	struct conf	 conf;
	struct account	*a;
	struct envelope	 env;
	struct msg	 m;
	struct msgopts	 mo;
	char		*fqdn = NULL, *maildomain = NULL;
	int		 status = -1;

	memset(&env, 0, sizeof(env));
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (conf_load(&conf, o->conffile != NULL ? o->conffile :
	    POSTERN_CONF, e) == -1)
		return -1;
	if ((a = conf_account(&conf, o->account, o->from, e)) == NULL)
		goto out;
	if (a->auth != AUTH_OFF && conf_password(a, e) == -1)
		goto out;
	fqdn = util_fqdn();
	if (o->check) {
		status = smtp_check(a, a->domain != NULL ? a->domain : fqdn,
		    stdout, e) == -1 ? -1 : EX_OK;
		goto out;
	}
	maildomain = msg_maildomain(a->maildomain);
	if (make_envelope(o, a, maildomain, &env, e) == -1)
		goto out;
	memset(&mo, 0, sizeof(mo));
	mo.ignoredots = o->ignoredots;
	mo.extract = o->extract;
	mo.sender = env.from;
	mo.fullname = o->fullname != NULL ? o->fullname : a->from_full_name;
	mo.maildomain = maildomain;
	mo.set_from = (enum msg_set)a->set_from;
	mo.set_date = (enum msg_set)a->set_date;
	mo.set_msgid = (enum msg_set)a->set_msgid;
	mo.keep_bcc = !a->remove_bcc;
	mo.undisclosed = a->undisclosed;
	mo.now = time(NULL);
	if (msg_read(STDIN_FILENO, &mo, &m, e) == -1)
		goto out;
	merge_rcpts(&env, &m);
	if (env.nrcpt == 0) {
		err_set(e, ERR_USAGE, "no recipients specified");
		goto out;
	}
	if (smtp_send(a, &env, &m, a->domain != NULL ? a->domain : fqdn,
	    e) == -1) {
		(void)report_rcpts(&env);
		goto out;
	}
	status = report_rcpts(&env);
out:
	msg_close(&m);
	envelope_free(&env);
	free(fqdn);
	free(maildomain);
	conf_free(&conf);
	return status;
}

int
main(int argc, char *argv[])
{
	struct opts	o;
	struct err	e;
	int		i, status;

	parse_args(argc, argv, &o);
	log_init(o.verbose);
	memset(&e, 0, sizeof(e));
	for (i = 0; i < o.nrcpt; i++)
		if (strpbrk(o.rcpts[i], "\r\n") != NULL) {
			log_warnx("line break in recipient argument");
			return EX_USAGE;
		}
	if (o.nrcpt == 0 && !o.check && !o.extract) {
		log_warnx("no recipients specified");
		return EX_USAGE;
	}
	if ((status = run(&o, &e)) == -1) {
		log_warnx("%s", e.msg);
		status = exit_status(e.cls);
	}
	return status;
}
