/*
 * The sendmail front end: options, the mode, and the one place where an
 * error class becomes an exit status (sysexits.h, table in DESIGN.md and
 * postern(8)).  Everything else returns a struct err up to here.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>


#include "extern.h"

/*
 * What postern was asked to do.  MODE_QUEUE, MODE_LIST and MODE_ADMIN go
 * to the queue (queue.c) through run_queue(), MODE_SMTP to the -bs
 * server (server.c) through run_smtp().
 */
enum mode {
	MODE_SEND = 0,	/* -bm: the default */
	MODE_QUEUE,	/* -q: a queue run */
	MODE_LIST,	/* -bp, mailq */
	MODE_SMTP,	/* -bs: SMTP on stdin/stdout */
	MODE_VERIFY,	/* -bv: the recipients after aliases; nothing sent */
	MODE_ALIASES,	/* -bi, -I, newaliases: check the aliases files */
	MODE_ADMIN,	/* --delete, --hold, --release */
	MODE_IMPORT	/* --import: another program's configuration */
};

/* -od: queue only, or try at once; with queue off both deliver now. */
enum delivery {
	DELIVER_NOW = 0,	/* -odi, -odb (the default) */
	DELIVER_QUEUE		/* -odq, -odd: queue only */
};

struct opts {
	enum mode	  mode;
	struct qsel	  sel;		/* -qf, -qI, -qR, -qS */
	long long	  interval;	/* -q30m: seconds; 0: one run */
	enum errmode	  errmode;	/* -oe */
	enum delivery	  delivery;	/* -od */
	const char	 *admin;	/* "delete", "hold", "release" */
	const char	 *import;	/* --import: the program */
	const char	 *adminid;
	const char	 *conffile;	/* -C */
	const char	 *from;		/* -f, -r: the last one, no <> */
	char		 *fromcopy;	/* what from points into */
	const char	 *fullname;	/* -F */
	const char	 *account;	/* -a */
	const char	 *notify;	/* -N */
	const char	 *ret;		/* -R */
	const char	 *envid;	/* -V */
	const char	 *bodytype;	/* -B: 7BIT or 8BITMIME */
	const char	 *tag;		/* -L */
	int		  verbose;	/* -v */
	int		  ignoredots;	/* -i, -oi, -O IgnoreDots */
	int		  check;	/* --check */
	int		  authorize;	/* --authorize */
	int		  pretend;	/* -P, --pretend */
	int		  readfrom;	/* --read-envelope-from */
	int		  extract;	/* -t */
	int		  json;		/* mailq --json, -v */
	int		  maxage;	/* mailq --max-age: seconds; 0: none */
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
	{ ERR_NOINPUT, EX_NOINPUT },
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

#define USAGE	"usage: %s [-itv] [-a account] [-B type] [-b mode] " \
	"[-C file] [-F name] [-f sender] [-L tag] [-N dsn] [-O option] " \
	"[-o option] [-q[...]] [-R ret] [-V envid] [--] [recipient ...]\n"

/* Bad command line: the one-line usage, exit 64. */
static void
usage(void)
{
	fprintf(stderr, USAGE, getprogname());
	exit(EX_USAGE);
}

static void
help(void)
{
	static const char *const more[] = {
		"--check [-a account] [-C file]",
		"--authorize [-a account] [-C file]",
		"-P | --pretend [-t] [-a account] [-C file] [-f sender] "
		    "[--read-envelope-from]",
		"--import ssmtp|dma|nullmailer|msmtp [file ...]",
		"--delete id | --hold id | --release id [-C file]",
		"-bp [-v] [--json] [--max-age age] [-C file]",
		"--version | --help"
	};
	size_t	i;

	printf(USAGE, getprogname());
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		printf("       %s %s\n", getprogname(), more[i]);
	printf("Modes: -bm send (default), -bs SMTP on stdin/stdout, -bp list "
	    "the queue (mailq),\n"
	    "-bi check the aliases (newaliases), -bv show the recipients "
	    "after aliases,\n"
	    "-q run the queue, -q30m every 30 minutes.  See postern(8).\n");
	exit(EX_OK);
}

static void
version(void)
{
	printf("postern %s\n", VERSION);
	printf("TLS library: %s\n", tls_library());
	printf("system configuration: %s\n", POSTERN_CONF);
	printf("spool directory: %s\n", SPOOLDIR);
	exit(EX_OK);
}

static void
bad_value(char opt, const char *val, const char *want)
{
	log_warnx("-%c %s: expected %s", opt, val, want);
	usage();
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

/* sendmail's boolean option values ("-O IgnoreDots=false"). */
static int
truth(const char *v)
{
	if (v == NULL || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "t") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "y") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcasecmp(v, "false") == 0 || strcasecmp(v, "f") == 0 ||
	    strcasecmp(v, "no") == 0 || strcasecmp(v, "n") == 0 ||
	    strcmp(v, "0") == 0)
		return 0;
	return -1;
}

/* -oe[pqmwe] and -O ErrorMode=x.  m, w and e all mail the errors. */
static void
errmode_opt(struct opts *o, const char *v, char opt)
{
	if (strcmp(v, "p") == 0)
		o->errmode = ERRMODE_PRINT;
	else if (strcmp(v, "q") == 0)
		o->errmode = ERRMODE_QUIET;
	else if (strcmp(v, "m") == 0 || strcmp(v, "w") == 0 ||
	    strcmp(v, "e") == 0)
		o->errmode = ERRMODE_MAIL;
	else
		bad_value(opt, v, "an error mode: p, q, m, w or e");
}

/* -od[ibqd] and -O DeliveryMode=x. */
static void
delivery_opt(struct opts *o, const char *v, char opt)
{
	if (strcmp(v, "i") == 0 || strcmp(v, "b") == 0)
		o->delivery = DELIVER_NOW;
	else if (strcmp(v, "q") == 0 || strcmp(v, "d") == 0)
		o->delivery = DELIVER_QUEUE;
	else
		bad_value(opt, v, "a delivery mode: i, b, q or d");
}

/*
 * -oX (attached only): -oi, -oe, -od; every other -oX is a sendmail
 * option that means nothing here (-oA, -om, -oQ, -o7, -o8 ...).
 */
static void
o_opt(struct opts *o, const char *v)
{
	if (*v == '\0') {
		log_warnx("option -o needs an attached value (-oi, -oem ...)");
		usage();
	}
	if (strcmp(v, "i") == 0)
		o->ignoredots = 1;
	else if (*v == 'e')
		errmode_opt(o, v + 1, 'o');
	else if (*v == 'd')
		delivery_opt(o, v + 1, 'o');
}

/* -O Name=value: the long names of the -o options that matter. */
static void
longopt(struct opts *o, const char *v)
{
	char		 name[64];
	const char	*val = NULL;
	size_t		 n = strcspn(v, "=");
	int		 t;

	if (v[n] == '=')
		val = v + n + 1;
	if (n >= sizeof(name))
		return;
	memcpy(name, v, n);
	name[n] = '\0';
	if (strcasecmp(name, "IgnoreDots") == 0) {
		if ((t = truth(val)) == -1)
			bad_value('O', v, "IgnoreDots=true or false");
		o->ignoredots = t;
	} else if (strcasecmp(name, "ErrorMode") == 0 && val != NULL)
		errmode_opt(o, val, 'O');
	else if (strcasecmp(name, "DeliveryMode") == 0 && val != NULL)
		delivery_opt(o, val, 'O');
}

/*
 * -q and its forms: -q, -q30m (a runner in the foreground every interval:
 * interval.c), -qf, -qIid, -qRrcpt, -qSsender.
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
	case '\0':
		break;
	default:
		if (rest[strspn(rest, "0123456789smhdw")] != '\0') {
			log_warnx("unknown option -q%s", rest);
			usage();
		}
		if (interval_parse(rest, &o->interval) == -1)
			bad_value('q', rest, "an interval such as 30m or 1h30m, "
			    "above zero and at most a year");
	}
}

/* -bX: the mode.  The daemon and test modes are not ours to offer. */
static void
b_opt(struct opts *o, const char *v)
{
	if (strlen(v) != 1)
		goto unknown;
	switch (*v) {
	case 'm':
		o->mode = MODE_SEND;
		return;
	case 's':
		o->mode = MODE_SMTP;
		return;
	case 'p':
		o->mode = MODE_LIST;
		return;
	case 'i':
		o->mode = MODE_ALIASES;
		return;
	case 'v':
		o->mode = MODE_VERIFY;
		return;
	case 'd':
	case 'D':
	case 'l':
	case 't':
		log_warnx("-b%s is not supported: postern is a mail "
		    "submission agent; it never listens for mail, delivers "
		    "locally or tests addresses", v);
		exit(EX_USAGE);
	case 'a':
	case 'h':
	case 'H':
	case 'P':
		return;		/* sendmail modes without a meaning here */
	}
unknown:
	log_warnx("unknown option -b%s", v);
	usage();
}

/* -f/-r: the last one wins; "<>" or "" is the null sender. */
static void
from_opt(struct opts *o, const char *v)
{
	size_t	n = strlen(v);

	free(o->fromcopy);
	o->fromcopy = xstrdup(v);
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		o->fromcopy[n - 1] = '\0';
		o->from = o->fromcopy + 1;
	} else
		o->from = o->fromcopy;
}

/* -B: the body type sendmail takes; postern decides from the bytes. */
static void
body_opt(struct opts *o, const char *v)
{
	if (strcasecmp(v, "7BIT") != 0 && strcasecmp(v, "8BITMIME") != 0)
		bad_value('B', v, "7BIT or 8BITMIME");
	o->bodytype = v;
}

/* -L: the syslog tag, printable and short. */
static void
tag_opt(struct opts *o, const char *v)
{
	const char	*p;

	for (p = v; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '[' || *p == ':')
			break;
	if (*v == '\0' || *p != '\0' || p - v > 32)
		bad_value('L', v, "a tag of at most 32 printable characters");
	o->tag = v;
}

/* An option that takes a value; 0 when c is not one. */
static int
value_opt(struct opts *o, char c, const char *v)
{
	switch (c) {
	case 'C':
		o->conffile = v;
		break;
	case 'f':
	case 'r':
		from_opt(o, v);
		break;
	case 'F':
		o->fullname = v;
		break;
	case 'a':
		o->account = v;
		break;
	case 'N':
		o->notify = v;
		break;
	case 'R':
		o->ret = v;
		break;
	case 'V':
		o->envid = v;
		break;
	case 'B':
		body_opt(o, v);
		break;
	case 'L':
		tag_opt(o, v);
		break;
	case 'O':
		longopt(o, v);
		break;
	case 'h':	/* hop count */
	case 'p':	/* protocol and host */
	case 'X':	/* traffic log (and Postfix's -XV) */
	case 'D':	/* debug output file */
		break;
	default:
		return 0;
	}
	return 1;
}

/* A word of clustered one-letter flags and at most one valued option. */
static void
parse_word(char **argv, int *i, const char *p, struct opts *o)
{
	for (; *p != '\0'; p++) {
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
		case 'P':
			o->pretend = 1;
			continue;
		case 'I':
			o->mode = MODE_ALIASES;
			continue;
		case 'G':	/* relay submission */
		case 'm':	/* me too */
		case 'n':	/* no aliasing */
		case 'U':	/* initial user submission */
			continue;
		case 'o':
			o_opt(o, p + 1);
			return;
		case 'q':
			queue_opt(argv, i, p + 1, o);
			return;
		case 'b':
			b_opt(o, p + 1);
			return;
		case 'A':
			if (strcmp(p + 1, "c") != 0 && strcmp(p + 1, "m") != 0)
				break;
			return;
		case 'd':	/* -dX: debug flags */
		case 'M':	/* -MxVALUE: macros */
		case 'Q':	/* -Q[reason]: quarantine */
			return;
		default:
			if (strchr("CfrFaNRVBLOhpXD", *p) == NULL)
				break;
			(void)value_opt(o, *p, optval(argv, i, p + 1, *p));
			return;
		}
		log_warnx("unknown option -%s", p);
		usage();
	}
}

/* The field a long option without a value sets, or NULL. */
static int *
long_flag(struct opts *o, const char *p)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} flags[] = {
		{ "--check", offsetof(struct opts, check) },
		{ "--authorize", offsetof(struct opts, authorize) },
		{ "--pretend", offsetof(struct opts, pretend) },
		{ "--read-envelope-from", offsetof(struct opts, readfrom) },
		{ "--json", offsetof(struct opts, json) }
	};
	size_t	i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(p, flags[i].name) == 0)
			return (int *)((char *)o + flags[i].off);
	return NULL;
}

/*
 * Options as sendmail has them: clustered flags, values attached or not
 * ("-fuser", "-f user"), -o and -q attached only.  A value is never taken
 * for a recipient; the recipients start at the first word that is not an
 * option, or after "--".  argv[0] picks a personality first.
 */
static void
parse_args(int argc, char **argv, struct opts *o)
{
	const char	*p;
	int		*flag;
	int		 i;

	memset(o, 0, sizeof(*o));
	if (strcmp(getprogname(), "mailq") == 0)
		o->mode = MODE_LIST;
	else if (strcmp(getprogname(), "newaliases") == 0)
		o->mode = MODE_ALIASES;
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
			help();
		if ((flag = long_flag(o, p)) != NULL) {
			*flag = 1;
			continue;
		}
		if (strcmp(p, "--max-age") == 0) {
			if (argv[i + 1] == NULL ||
			    conf_duration(argv[++i], &o->maxage) == -1) {
				log_warnx("--max-age: a duration such as 90s, "
				    "30m, 4h or 2d");
				usage();
			}
			continue;
		}
		if (strcmp(p, "--delete") == 0 || strcmp(p, "--hold") == 0 ||
		    strcmp(p, "--release") == 0) {
			o->mode = MODE_ADMIN;
			o->admin = p + 2;
			o->adminid = optval(argv, &i, "", p[2]);
			continue;
		}
		if (strcmp(p, "--import") == 0) {
			o->mode = MODE_IMPORT;
			if ((o->import = argv[++i]) == NULL) {
				log_warnx("--import needs a program: ssmtp, "
				    "dma, nullmailer or msmtp");
				usage();
			}
			continue;
		}
		if (p[1] == '-') {
			log_warnx("unknown option %s", p);
			usage();
		}
		parse_word(argv, &i, p + 1, o);
	}
	o->rcpts = argv + i;
	o->nrcpt = argc - i;
	/* A selector means "now", every time: a runner would spin on it. */
	if (o->interval > 0 && (o->sel.force || o->sel.id != NULL ||
	    o->sel.rcpt != NULL || o->sel.sender != NULL)) {
		log_warnx("-q with an interval runs what is due: it takes no "
		    "-qf, -qI, -qR or -qS");
		usage();
	}
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

/* The envelope sender: -f/-r as the account allows (submit.c). */
static int
make_sender(const struct opts *o, const struct account *a,
    const char *fqdn, struct envelope *env, struct err *e)
{
	return submit_sender(a, o->from, fqdn, &env->from, e);
}

/* A recipient before aliases, and whether it was a bare local name. */
struct want {
	const char	*addr;
	int		 bare;
};

/*
 * The recipients before aliases: the command line's, then, with -t,
 * those of the headers (Postfix behaviour).  msg.c has qualified a bare
 * name of the headers already; its local part is the name.
 */
static int
collect(const struct opts *o, const struct msg *m, struct want **w,
    size_t *n, struct err *e)
{
	size_t	i;

	*w = xcalloc((size_t)o->nrcpt + m->nrcpt + 1, sizeof(**w));
	*n = 0;
	for (i = 0; i < (size_t)o->nrcpt; i++) {
		if (addr_valid_arg(o->rcpts[i], e) == -1)
			return -1;
		(*w)[*n].addr = o->rcpts[i];
		(*w)[(*n)++].bare = strchr(o->rcpts[i], '@') == NULL;
	}
	for (i = 0; i < m->nrcpt; i++) {
		(*w)[*n].addr = m->rcpts[i];
		(*w)[(*n)++].bare = m->bare[i];
	}
	return 0;
}

/*
 * The envelope recipients: each bare local name through the aliases
 * (read only when one is there), every address once.  With verify (-bv)
 * each recipient and what it became is printed there.
 */
static int
expand_rcpts(const struct account *a, const struct want *w, size_t n,
    const char *domain, struct envelope *env, FILE *verify, struct err *e)
{
	struct aliases	 al, *alp = NULL;
	char		**out, name[512];
	size_t		 i, k, nout;
	int		 rc = 0;

	memset(&al, 0, sizeof(al));
	for (i = 0; i < n && a->aliases != NULL; i++)
		if (w[i].bare) {
			if (alias_load(&al, a->aliases, e) == -1)
				return -1;
			alp = &al;
			break;
		}
	for (i = 0; rc == 0 && i < n; i++) {
		(void)strlcpy(name, w[i].addr, sizeof(name));
		if (w[i].bare)
			name[strcspn(name, "@")] = '\0';
		if ((rc = alias_expand(w[i].bare ? alp : NULL, w[i].bare ?
		    name : w[i].addr, domain, &out, &nout, e)) == -1)
			break;
		if (verify != NULL)
			fprintf(verify, "%s:", w[i].bare ? name : w[i].addr);
		for (k = 0; k < nout; k++) {
			if (verify != NULL)
				fprintf(verify, "%s %s", k > 0 ? "," : "",
				    out[k]);
			/*
			 * The command line's and the aliases' addresses
			 * are checked already: this one is from a header.
			 */
			if ((rc = addr_valid_arg(out[k], e)) == 0)
				submit_add_rcpt(env, out[k]);
			else
				e->cls = ERR_DATA;
		}
		if (verify != NULL)
			putc('\n', verify);
		for (k = 0; k < nout; k++)
			free(out[k]);
		free(out);
	}
	if (alp != NULL)
		alias_free(&al);
	return rc;
}

/*
 * Name each recipient the smarthost refused; the status says whether any
 * was refused for good (67) or only for now (75; queued ones are not
 * failures).  With -oem the sender gets a DSN instead.
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
			log_warnx("<%s>: recipient refused: %d %s", r->addr,
			    r->reply.code, r->reply.text);
			status = EX_NOUSER;
		} else if (r->state == RCPT_TEMPFAIL && !queued) {
			log_warnx("<%s>: recipient deferred: %d %s", r->addr,
			    r->reply.code, r->reply.text);
			if (status == EX_OK)
				status = EX_TEMPFAIL;
		}
	}
	return status;
}


/*
 * -bs: the SMTP server on stdin/stdout (server.c).  It loads the
 * configuration itself: each message may choose its own account, and a
 * configuration error is a 421 greeting the client understands.
 */
static int
run_smtp(const struct opts *o, struct err *e)
{
	struct server_opts	so;

	if (o->nrcpt > 0)
		return err_set(e, ERR_USAGE, "-bs takes the recipients from "
		    "RCPT TO, not from the command line");
	memset(&so, 0, sizeof(so));
	so.conffile = o->conffile;
	so.account = o->account;
	so.fullname = o->fullname;
	so.tag = o->tag;
	return server_run(&so, e) == -1 ? -1 : EX_OK;
}

/* postern -q, -bp, --delete/--hold/--release. */
static int
run_queue(const struct opts *o, struct conf *conf, struct account *a,
    const char *fqdn, struct err *e)
{
	int	status;

	switch (o->mode) {
	case MODE_QUEUE:
		if (o->interval > 0)
			return interval_run(conf, a, &o->sel, fqdn, o->interval,
			    e) == -1 ? -1 : EX_OK;
		return queue_run(conf, a, &o->sel, fqdn, e) == -1 ? -1 : EX_OK;
	case MODE_LIST:
		/* Plain mailq exits 0 whatever the queue holds (Postfix). */
		if (mailq_list(a, o->json || o->verbose, o->maxage > 0 ?
		    o->maxage : -1, stdout, &status, e) == -1)
			return -1;
		return status;
	default:
		return mailq_admin(a, o->admin, o->adminid, e) == -1 ? -1 :
		    EX_OK;
	}
}

/*
 * -bi, -I, newaliases: parse the aliases file of every account (or of
 * the one named with -a) and report every target postern refuses.  Exit
 * 0 only when all of them are valid.
 */
static int
run_newaliases(const struct opts *o, const struct conf *conf,
    struct err *e)
{
	struct aliases	 al;
	size_t		 i, k, bad = 0, files = 0;

	for (i = 0; i < conf->nacct; i++) {
		const char *f = conf->accts[i].aliases;

		if (f == NULL || (o->account != NULL &&
		    strcmp(o->account, conf->accts[i].name) != 0))
			continue;
		for (k = 0; k < i; k++)
			if (conf->accts[k].aliases != NULL &&
			    strcmp(conf->accts[k].aliases, f) == 0)
				break;
		if (k < i && o->account == NULL)
			continue;	/* checked already */
		if (alias_load(&al, f, e) == -1)
			return -1;
		files++;
		if ((k = alias_check(&al, log_warnx)) == 0)
			printf("%s: %zu aliases\n", f, al.n);
		bad += k;
		alias_free(&al);
	}
	if (bad > 0)
		return err_set(e, ERR_CONFIG, "%zu alias target%s refused",
		    bad, bad == 1 ? " is" : "s are");
	if (files == 0)
		printf("%s: no aliases file is configured\n", conf->path);
	return EX_OK;
}

/*
 * With the queue on, the message goes into the spool (fsync'd, renamed)
 * before any connection, then delivery is tried at once (queue.c).
 */
static int
send_queued(const struct opts *o, struct conf *conf, struct account *a,
    struct qsub *qs, struct envelope *env, struct msg *m, const char *fqdn,
    struct err *e)
{
	if (queue_submit(qs, conf, a, env, m, o->errmode, fqdn, e) == -1) {
		submit_log(env, m, 1, e, qs->id);
		(void)report_rcpts(env, 1, o->errmode);
		return -1;
	}
	if (qs->reason[0] != '\0') {
		struct err q;

		err_set(&q, ERR_TEMP, "%s", qs->reason);
		submit_log(env, m, 1, &q, qs->id);
		/* Every time, tty or not: cron mails it, PHP logs it. */
		if (qs->notice[0] != '\0')
			log_warnx("%s", qs->notice);
		else if (o->verbose || isatty(STDERR_FILENO))
			log_warnx("queued: %s", qs->reason);	/* -odq */
	} else
		submit_log(env, m, 0, e, qs->id);
	return report_rcpts(env, 1, o->errmode);
}

/* Send mode and -bv, from the account chosen. */
static int
run_send(const struct opts *o, struct conf *conf, struct account *a,
    const char *fqdn, struct err *e)
{
	struct envelope	 env;
	struct msg	 m;
	struct msgopts	 mo;
	struct qsub	 qs;
	struct want	*w = NULL;
	size_t		 nw = 0;
	char		*maildomain;
	int		 status = -1;

	memset(&env, 0, sizeof(env));
	memset(&m, 0, sizeof(m));
	memset(&qs, 0, sizeof(qs));
	qs.fd = -1;
	m.fd = -1;
	maildomain = msg_maildomain(a->maildomain);
	if (make_sender(o, a, maildomain, &env, e) == -1 ||
	    dsn_options(o, a, &env, e) == -1)
		goto out;
	/* -bv reads a message only to find the recipients of -t. */
	if (o->mode == MODE_SEND || o->extract) {
		submit_msgopts(&mo, a, env.from, o->fullname, maildomain);
		mo.ignoredots = o->ignoredots;
		mo.extract = o->extract;
		/* The spool must be writable before stdin is read (73). */
		if (o->mode == MODE_SEND && a->queue) {
			if (queue_open(&qs, a, e) == -1)
				goto out;
			mo.outfd = qs.fd;
		}
		if (msg_read(STDIN_FILENO, &mo, &m, e) == -1)
			goto out;
		qs.fd = -1;	/* the message owns the spool file now */
	}
	if (collect(o, &m, &w, &nw, e) == -1 ||
	    expand_rcpts(a, w, nw, maildomain, &env, o->mode == MODE_VERIFY ?
	    stdout : NULL, e) == -1)
		goto out;
	if (env.nrcpt == 0) {
		err_set(e, ERR_USAGE, "no recipients specified");
		goto out;
	}
	if (o->mode == MODE_VERIFY) {
		status = EX_OK;
		goto out;
	}
	/* With the queue, a failed passwordeval defers (queue.c). */
	if (!a->queue && a->auth != AUTH_OFF && conf_password(a, e) == -1)
		goto out;
	if (a->queue) {
		qs.queue_only = o->delivery == DELIVER_QUEUE;
		status = send_queued(o, conf, a, &qs, &env, &m, fqdn, e);
		goto out;
	}
	/* Without the queue there is nowhere to hold a DSN: -oem acts as -oep. */
	if (smtp_send(a, &env, &m, a->domain != NULL ? a->domain : fqdn,
	    e) == -1) {
		submit_log(&env, &m, 1, e, NULL);
		(void)report_rcpts(&env, 0, ERRMODE_PRINT);
		goto out;
	}
	submit_log(&env, &m, 0, e, NULL);
	status = report_rcpts(&env, 0, ERRMODE_PRINT);
out:
	queue_abort(&qs);
	free(w);
	msg_close(&m);
	submit_envelope_free(&env);
	free(maildomain);
	return status;
}

/*
 * -P, --pretend: the account as it would be used, in msmtp's format;
 * how is conf_choose()'s.  Nothing is sent.
 */
static int
run_pretend(const struct opts *o, const struct conf *conf,
    struct account *a, int how, const char *fqdn, struct err *e)
{
	struct pretend	 p;
	char		*from = NULL, *md;
	int		 status;

	memset(&p, 0, sizeof(p));
	/* As msmtp: the password is had (and shown as <redacted>). */
	if (a->auth != AUTH_OFF && conf_password(a, e) == -1)
		return -1;
	/* A pattern is shown as written, as msmtp does. */
	if (a->from != NULL && subst_wildcard(a->from) && !a->auto_from &&
	    (o->from == NULL || !a->from_override))
		from = xstrdup(a->from);
	else {
		md = msg_maildomain(a->maildomain);
		status = submit_sender(a, o->from, md, &from, e);
		free(md);
		if (status == -1)
			return -1;
	}
	p.conf = conf;
	p.acct = a;
	p.from = from;
	p.domain = a->domain != NULL ? a->domain : fqdn;
	p.chosen_by = how == 1 ? o->from : NULL;
	p.fallback = how == 2;
	p.extract = o->extract;
	p.read_from = o->readfrom;
	pretend_print(&p, stdout);
	free(from);
	return fflush(stdout) == 0 ? EX_OK : err_set(e, ERR_IO, "stdout: %s",
	    strerror(errno));
}

/* domain (EHLO) with msmtp's %H, %C and %M replaced. */
static int
subst_domain(struct account *a, struct err *e)
{
	char	*d;

	if (a->domain == NULL || strchr(a->domain, '%') == NULL)
		return 0;
	if ((d = subst_from(a->domain, e)) == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': domain: "
		    "%s", a->file, a->line, a->name, e->msg + 6);
	free(a->domain);
	a->domain = d;
	return 0;
}

static int
run(const struct opts *o, struct err *e)
{
	struct conf	 conf;
	struct account	*a;
	char		*fqdn = NULL;
	int		 status = -1, how, flags = 0;

	if (o->mode == MODE_SMTP)
		return run_smtp(o, e);
	/* Other programs' files, read with the caller's rights only. */
	if (o->mode == MODE_IMPORT) {
		priv_revoke();
		return import_run(o->import, o->rcpts, o->nrcpt, stdout, e) ==
		    -1 ? -1 : EX_OK;
	}
	/* Only a mode that may send needs the DKIM keys. */
	if ((o->mode == MODE_SEND || o->mode == MODE_QUEUE) && !o->pretend)
		flags |= USERCONF_KEYS;
	if (o->pretend)
		flags |= USERCONF_NOMKDIR;
	if (userconf_load(&conf, o->conffile, flags, e) == -1)
		return -1;
	if (o->mode == MODE_ALIASES) {
		status = run_newaliases(o, &conf, e);
		goto out;
	}
	if ((a = conf_choose(&conf, o->account, o->from, &how, e)) == NULL ||
	    subst_domain(a, e) == -1)
		goto out;
	/* The host's name: domain when set, else one DNS lookup. */
	fqdn = a->domain != NULL ? xstrdup(a->domain) : util_fqdn();
	if (o->pretend) {
		status = run_pretend(o, &conf, a, how, fqdn, e);
		goto out;
	}
	log_setup(o->tag, a->syslog, a->logfile, a->logtime);
	switch (o->mode) {
	case MODE_QUEUE:
	case MODE_LIST:
	case MODE_ADMIN:
		status = run_queue(o, &conf, a, fqdn, e);
		break;
	default:
		if (o->authorize) {
			status = oauth2_authorize(a,
			    conf.kind == CONF_SYSTEM, stdin, stdout, e) == -1 ?
			    -1 : EX_OK;
			break;
		}
		if (o->check) {
			if (a->auth != AUTH_OFF && conf_password(a, e) == -1)
				break;
			if (oauth2_enabled(a)) {
				if (oauth2_token(a, OAUTH2_REFRESH, e) == -1)
					break;
				printf("OAuth2: access token refreshed at %s, "
				    "valid for %lld s\n", a->oauth2_token_url,
				    a->oauth2_expires - (long long)time(NULL));
			}
			status = smtp_check(a, a->domain != NULL ? a->domain :
			    fqdn, stdout, e) == -1 ? -1 : EX_OK;
		} else
			status = run_send(o, &conf, a, fqdn, e);
		break;
	}
out:
	log_setup(NULL, -1, NULL, NULL);	/* conf's strings go now */
	free(fqdn);
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
	/*
	 * A server that closes while we write is an error to report (and a
	 * message to queue), not a reason to die: EPIPE, not SIGPIPE.
	 */
	(void)signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv, &o);
	log_init(o.verbose);
	log_quiet(o.errmode == ERRMODE_QUIET);
	memset(&e, 0, sizeof(e));
	for (i = 0; i < o.nrcpt; i++)
		if (strpbrk(o.rcpts[i], "\r\n") != NULL) {
			log_warnx("line break in recipient argument");
			free(o.fromcopy);
			return EX_USAGE;
		}
	if (o.nrcpt == 0 && !o.check && !o.authorize && !o.extract &&
	    !o.pretend && (o.mode == MODE_SEND || o.mode == MODE_VERIFY)) {
		log_warnx("no recipients specified");
		free(o.fromcopy);
		return EX_USAGE;
	}
	/* --read-envelope-from: the From field is -f, and may choose. */
	if (o.readfrom && o.mode == MODE_SEND && !o.pretend && !o.check) {
		char *f;

		if (envfrom_read(STDIN_FILENO, &f, &e) == -1) {
			log_warnx("%s", e.msg);
			free(o.fromcopy);
			return exit_status(e.cls);
		}
		from_opt(&o, f);
		free(f);
	}
	if ((status = run(&o, &e)) == -1) {
		log_warnx("%s", e.msg);
		status = exit_status(e.cls);
	}
	free(o.fromcopy);
	return status;
}
