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

enum mode {
	MODE_SEND = 0,	/* -bm: the default */
	MODE_QUEUE,	/* -q: a queue run */
	MODE_LIST,	/* -bp, mailq */
	MODE_ADMIN	/* --delete, --hold, --release */
};

struct opts {
	enum mode	  mode;
	struct qsel	  sel;		/* -qf, -qI, -qR, -qS */
	const char	 *admin;	/* "delete", "hold", "release" */
	const char	 *adminid;
	enum errmode	  errmode;	/* -oep, -oem, -oew, -oeq */
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
	/* With the queue on, TLS policy failures are queued instead. */
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
	    "[-f sender] [-N dsn] [-o option] [-R ret] [-V envid] [--] "
	    "recipient ...\n"
	    "       %s -q[f] [-qI id] [-qR rcpt] [-qS sender] [-v] "
	    "[-a account] [-C file]\n"
	    "       %s -bp | --delete id | --hold id | --release id "
	    "[-C file]\n"
	    "       %s --check [-a account] [-C file]\n", getprogname(),
	    getprogname(), getprogname(), getprogname());
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

/*
 * -q and its forms: -q, -q30m (the interval of a daemon that postern does
 * not have: accepted, ignored), -qf, -qIid, -qRrcpt, -qSsender.
 */
static void
queue_opt(char **argv, int *i, const char *rest, struct opts *o)
{
	o->mode = MODE_QUEUE;
	switch (*rest) {
	case 'f':
		o->sel.force = 1;
		if (rest[1] != '\0')
			queue_opt(argv, i, rest + 1, o);
		break;
	case 'I':
		o->sel.id = optval(argv, i, rest + 1, 'q');
		break;
	case 'R':
		o->sel.rcpt = optval(argv, i, rest + 1, 'q');
		break;
	case 'S':
		o->sel.sender = optval(argv, i, rest + 1, 'q');
		break;
	default:
		if (rest[strspn(rest, "0123456789smhdw")] != '\0') {
			log_warnx("unknown option -q%s", rest);
			usage();
		}
	}
}

/* Options as sendmail has them: clustered flags, values attached or not. */
static void
parse_args(int argc, char **argv, struct opts *o)
{
	const char	*p;
	int		 i;

	memset(o, 0, sizeof(*o));
	if (strcmp(getprogname(), "mailq") == 0)
		o->mode = MODE_LIST;
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
		if (strcmp(p, "--delete") == 0 || strcmp(p, "--hold") == 0 ||
		    strcmp(p, "--release") == 0) {
			o->mode = MODE_ADMIN;
			o->admin = p + 2;
			o->adminid = optval(argv, &i, "", p[2]);
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
				else if (strcmp(p + 1, "em") == 0 ||
				    strcmp(p + 1, "ew") == 0)
					o->errmode = ERRMODE_MAIL;
				else if (strcmp(p + 1, "eq") == 0)
					o->errmode = ERRMODE_QUIET;
				else if (strcmp(p + 1, "ep") == 0)
					o->errmode = ERRMODE_PRINT;
				break;
			case 'q':
				queue_opt(argv, &i, p + 1, o);
				break;
			case 'b':
				if (strcmp(p + 1, "p") == 0) {
					o->mode = MODE_LIST;
					break;
				}
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
report_rcpts(const struct envelope *env, int queued, enum errmode em)
{
	size_t	i;
	int	status = EX_OK;

	if (em == ERRMODE_MAIL)
		return EX_OK;	/* the sender gets a DSN instead */

	for (i = 0; i < env->nrcpt; i++) {
		const struct rcpt *r = &env->rcpts[i];

		if (r->state == RCPT_PERMFAIL) {
			if (em != ERRMODE_QUIET)
				log_warnx("<%s>: recipient refused: %d %s",
				    r->addr, r->reply.code, r->reply.text);
			status = EX_NOUSER;
		} else if (r->state == RCPT_TEMPFAIL && !queued &&
		    em != ERRMODE_QUIET) {
			log_warnx("<%s>: recipient deferred: %d %s", r->addr,
			    r->reply.code, r->reply.text);
			if (status == EX_OK)
				status = EX_TEMPFAIL;
		}
	}
	return status;
}

/* postern -q, -bp, --delete/--hold/--release. */
static int
run_queue(const struct opts *o, struct conf *conf, struct account *a,
    const char *fqdn, struct err *e)
{
	switch (o->mode) {
	case MODE_QUEUE:
		return queue_run(conf, a, &o->sel, fqdn, e) == -1 ? -1 : EX_OK;
	case MODE_LIST:
		return queue_list(a, stdout, e) == -1 ? -1 : EX_OK;
	default:
		return queue_admin(a, o->admin, o->adminid, e) == -1 ? -1 :
		    EX_OK;
	}
}

static int
run(const struct opts *o, struct err *e)
{
	struct conf	 conf;
	struct account	*a;
	struct envelope	 env;
	struct msg	 m;
	struct msgopts	 mo;
	struct qsub	 qs;
	char		*fqdn = NULL, *maildomain = NULL;
	int		 status = -1;

	memset(&env, 0, sizeof(env));
	memset(&m, 0, sizeof(m));
	memset(&qs, 0, sizeof(qs));
	qs.fd = -1;
	m.fd = -1;
	/* -C: the caller's file, read with the caller's rights only. */
	if (o->conffile != NULL)
		priv_revoke();
	priv_hold();
	status = conf_load(&conf, o->conffile != NULL ? o->conffile :
	    POSTERN_CONF, e);
	priv_drop();
	if (status == -1)
		return -1;
	status = -1;
	if ((a = conf_account(&conf, o->account, o->from, e)) == NULL)
		goto out;
	fqdn = util_fqdn();
	if (o->mode != MODE_SEND) {
		status = run_queue(o, &conf, a, fqdn, e);
		goto out;
	}
	if (a->auth != AUTH_OFF && conf_password(a, e) == -1)
		goto out;
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
	/* The spool must be writable before stdin is read (exit 73). */
	if (a->queue) {
		if (queue_open(&qs, a, e) == -1)
			goto out;
		mo.outfd = qs.fd;
	}
	if (msg_read(STDIN_FILENO, &mo, &m, e) == -1)
		goto out;
	qs.fd = -1;	/* the message owns the spool file from here on */
	merge_rcpts(&env, &m);
	if (env.nrcpt == 0) {
		err_set(e, ERR_USAGE, "no recipients specified");
		goto out;
	}
	if (a->queue) {
		if (queue_submit(&qs, &conf, a, &env, &m, o->errmode, fqdn,
		    e) == -1) {
			(void)report_rcpts(&env, 1, o->errmode);
			goto out;
		}
		if (qs.reason[0] != '\0' && (o->verbose ||
		    isatty(STDERR_FILENO)))
			log_warnx("queued: %s", qs.reason);
		status = report_rcpts(&env, 1, o->errmode);
		goto out;
	}
	if (smtp_send(a, &env, &m, a->domain != NULL ? a->domain : fqdn,
	    e) == -1) {
		(void)report_rcpts(&env, 0, o->errmode);
		goto out;
	}
	status = report_rcpts(&env, 0, o->errmode);
out:
	queue_abort(&qs);
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

	priv_init();
	parse_args(argc, argv, &o);
	log_init(o.verbose);
	memset(&e, 0, sizeof(e));
	for (i = 0; i < o.nrcpt; i++)
		if (strpbrk(o.rcpts[i], "\r\n") != NULL) {
			log_warnx("line break in recipient argument");
			return EX_USAGE;
		}
	if (o.nrcpt == 0 && !o.check && !o.extract && o.mode == MODE_SEND) {
		log_warnx("no recipients specified");
		return EX_USAGE;
	}
	if ((status = run(&o, &e)) == -1) {
		if (o.errmode != ERRMODE_QUIET)
			log_warnx("%s", e.msg);
		status = exit_status(e.cls);
	}
	return status;
}
