/*
 * Errors and logging.  A struct err carries an error class and a one-line
 * message from the module that failed up to main.c.  The -v transcript
 * goes to stderr: "-> " a line postern sent, "<- " a line it received,
 * "-- " everything else (DESIGN.md).  What became of each message is one
 * summary line, to syslog(LOG_MAIL) and to the account's logfile; every
 * field is escaped, and nothing that could hold a secret (the password,
 * an AUTH exchange) is ever a field.
 *
 * While a delivery's outcome is not yet recorded in the spool, what would
 * go to stderr or to the log is held in memory (log_hold) and written
 * after the record (log_release): the caller controls stderr, and a
 * blocked pipe between a 250 and its record would let it kill the
 * process there and have the message sent again.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define LOG_LINEMAX	2048	/* a summary line; longer is cut */

static int		 verbose;
static int		 quiet;		/* -oeq */
static struct timespec	 started;

/* Output held back until the outcome of a delivery is recorded. */
struct held {
	int	 prio;		/* -1: stderr, else a log_mail() line */
	char	*text;
};
static struct {
	int		 on;
	struct held	*v;
	size_t		 n, cap;
} hold;

static void	mail_line(int, const char *);

/* Where summary lines go: log_setup() from the chosen account and -L. */
static struct {
	char		 tag[64];
	int		 facility;	/* -1: no syslog */
	int		 opened;
	const char	*file;		/* NULL: no logfile */
	const char	*timefmt;
} lg = { "postern", LOG_MAIL, 0, NULL, NULL };

static const struct {
	const char	*name;
	int		 facility;
} facilities[] = {
	{ "LOG_USER", LOG_USER }, { "LOG_MAIL", LOG_MAIL },
	{ "LOG_LOCAL0", LOG_LOCAL0 }, { "LOG_LOCAL1", LOG_LOCAL1 },
	{ "LOG_LOCAL2", LOG_LOCAL2 }, { "LOG_LOCAL3", LOG_LOCAL3 },
	{ "LOG_LOCAL4", LOG_LOCAL4 }, { "LOG_LOCAL5", LOG_LOCAL5 },
	{ "LOG_LOCAL6", LOG_LOCAL6 }, { "LOG_LOCAL7", LOG_LOCAL7 },
};

int
err_setv(struct err *e, enum errclass cls, const char *fmt, va_list ap)
{
	e->cls = cls;
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -1;
}

int
err_set(struct err *e, enum errclass cls, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	err_setv(e, cls, fmt, ap);
	va_end(ap);
	return -1;
}

void
log_init(int v)
{
	verbose = v;
	(void)clock_gettime(CLOCK_MONOTONIC, &started);
}

/* -oeq: nothing on stderr; the exit status alone tells. */
void
log_quiet(int q)
{
	quiet = q;
}

/* Keep what would go to stderr and the log in memory from now on. */
void
log_hold(void)
{
	hold.on = 1;
}

static void
held_add(int prio, char *text)
{
	if (hold.n == hold.cap) {
		hold.cap = hold.cap == 0 ? 64 : 2 * hold.cap;
		hold.v = xreallocarray(hold.v, hold.cap, sizeof(*hold.v));
	}
	hold.v[hold.n].prio = prio;
	hold.v[hold.n++].text = text;
}

/* Write out, in order, what was held; stop holding. */
void
log_release(void)
{
	size_t	i;

	hold.on = 0;
	for (i = 0; i < hold.n; i++) {
		if (hold.v[i].prio == -1)
			fputs(hold.v[i].text, stderr);
		else
			mail_line(hold.v[i].prio, hold.v[i].text);
		free(hold.v[i].text);
	}
	free(hold.v);
	hold.v = NULL;
	hold.n = hold.cap = 0;
}

/* Text for stderr, now or once the outcome is recorded. */
static void
to_stderr(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
to_stderr(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (!hold.on)
		vfprintf(stderr, fmt, ap);
	else if (vasprintf(&s, fmt, ap) != -1)
		held_add(-1, s);
	va_end(ap);
}

int
log_verbose(void)
{
	return verbose;
}

/*
 * A received line made safe to print: its line end cut off and any byte
 * that is not printable shown as \xNN, so that a hostile server cannot
 * write terminal escapes through -v or an error message.  Truncated to
 * fit dst.
 */
void
log_escape(char *dst, size_t size, const char *src, size_t len)
{
	size_t	i, o = 0;

	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r'))
		len--;
	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else if (o + 5 <= size)
			o += (size_t)snprintf(dst + o, size - o, "\\x%02X", c);
		else
			break;
	}
	if (size > 0)
		dst[o < size ? o : size - 1] = '\0';
}

/* One protocol line for the transcript. */
void
log_proto(const char *prefix, const char *line, size_t len)
{
	char	buf[1024];

	if (!verbose)
		return;
	log_escape(buf, sizeof(buf), line, len);
	to_stderr("%s%s\n", prefix, buf);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if (!verbose)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) != -1) {
		to_stderr("-- %s\n", s);
		free(s);
	}
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if (quiet)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) != -1) {
		to_stderr("%s: %s\n", getprogname(), s);
		free(s);
	}
	va_end(ap);
}

/* The facility for "syslog LOG_xxx" (the names msmtp accepts); -1. */
int
log_facility(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(facilities[i].name, name) == 0)
			return facilities[i].facility;
	return -1;
}

/* The name of a facility, as syslog LOG_xxx takes it; NULL. */
const char *
log_facname(int facility)
{
	size_t	i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].facility == facility)
			return facilities[i].name;
	return NULL;
}

/*
 * Where summary lines go: the syslog tag (-L, default "postern"), the
 * facility (-1: no syslog), a logfile (NULL: none) and its strftime
 * format.  The strings must outlive the logging.
 */
void
log_setup(const char *tag, int facility, const char *file,
    const char *timefmt)
{
	if (lg.opened)
		closelog();
	lg.opened = 0;
	if (tag != NULL)
		(void)strlcpy(lg.tag, tag, sizeof(lg.tag));
	lg.facility = facility;
	lg.file = file;
	lg.timefmt = timefmt != NULL ? timefmt : "%b %d %H:%M:%S";
}

void
log_close(void)
{
	if (lg.opened)
		closelog();
	lg.opened = 0;
}

/*
 * The logfile of the setgid install's system configuration is shared by
 * every caller: root:postern 0660, opened with the group.  No caller may
 * own it, and only root can give a file to root: so only root creates
 * it (and then chowns it); any other caller finding it missing says so
 * once on stderr and logs to syslog alone.  A symbolic link is refused.
 */
static int
shared_open(void)
{
	static int	 said;
	int		 fd, saved, flags;

	flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
	priv_hold();
	fd = open(lg.file, flags);
	if (fd == -1 && errno == ENOENT && getuid() == 0 &&
	    (fd = open(lg.file, flags | O_CREAT | O_EXCL, 0660)) != -1 &&
	    (fchown(fd, 0, priv_group()) == -1 || fchmod(fd, 0660) == -1)) {
		saved = errno;
		close(fd);
		fd = -1;
		errno = saved;
	}
	saved = errno;
	priv_drop();
	if (fd == -1 && !said) {
		said = 1;
		if (saved == ENOENT)
			log_warnx("logfile %s does not exist; only root "
			    "creates it (root:%s 0660)", lg.file,
			    POSTERN_GROUP);
		else
			log_warnx("logfile %s: %s", lg.file,
			    strerror(saved));
	}
	return fd;
}

/* A logfile line: "TIME TAG[PID]: LINE", appended in one write. */
static void
log_tofile(const char *line)
{
	char		 when[128], *out;
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 fd, n;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(when, sizeof(when), lg.timefmt, &tm) == 0)
		when[0] = '\0';
	if ((n = xasprintf(&out, "%s%s%s[%ld]: %s\n", when,
	    when[0] != '\0' ? " " : "", lg.tag, (long)getpid(), line)) == -1)
		return;
	/* "-": standard error (msmtp's logfile -, the -qINTERVAL runner). */
	if (strcmp(lg.file, "-") == 0)
		fd = STDERR_FILENO;
	else if (priv_shared())
		fd = shared_open();
	else if ((fd = open(lg.file, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOCTTY, 0600)) == -1)
		log_warnx("logfile %s: %s", lg.file, strerror(errno));
	if (fd != -1 && write(fd, out, (size_t)n) != n)
		log_warnx("logfile %s: %s", lg.file, strerror(errno));
	if (fd != -1 && fd != STDERR_FILENO)
		close(fd);
	free(out);
}

/*
 * A line about a message for syslog and the logfile; not echoed with -v,
 * where the transcript says more.
 */
void
log_mail(int prio, const char *fmt, ...)
{
	char	line[LOG_LINEMAX];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (hold.on)
		held_add(prio, xstrdup(line));
	else
		mail_line(prio, line);
}

static void
mail_line(int prio, const char *line)
{
	if (lg.facility != -1) {
		if (!lg.opened)
			openlog(lg.tag, LOG_PID | LOG_NDELAY, lg.facility);
		lg.opened = 1;
		syslog(prio, "%s", line);
	}
	if (lg.file != NULL)
		log_tofile(line);
}

/* Seconds since postern started (log_init), for delay=. */
static double
elapsed(void)
{
	struct timespec	now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - started.tv_sec) +
	    (double)(now.tv_nsec - started.tv_nsec) / 1e9;
}

/* Append " name=value" with value escaped and without spaces. */
static void
field(char *line, size_t size, const char *name, const char *val)
{
	char	buf[512], *p;

	log_escape(buf, sizeof(buf), val, strlen(val));
	for (p = buf; *p != '\0'; p++)
		if (*p == ' ')
			*p = '_';
	(void)strlcat(line, " ", size);
	(void)strlcat(line, name, size);
	(void)strlcat(line, "=", size);
	(void)strlcat(line, buf, size);
}

/*
 * The summary line of one message, Postfix-like:
 * id=QUEUEID msgid=<..> from=<..> to=<a>,<b> size=N relay=host[addr]:port
 * delay=S status=sent|deferred|bounced (reply)
 */
void
log_message(const struct logmsg *l)
{
	char	line[LOG_LINEMAX], buf[512], reply[SMTP_TEXTLEN + 64];
	size_t	i;

	line[0] = '\0';
	(void)snprintf(line, sizeof(line), "id=%s",
	    l->queueid != NULL ? l->queueid : "-");
	field(line, sizeof(line), "msgid", l->msgid != NULL &&
	    *l->msgid != '\0' ? l->msgid : "-");
	(void)snprintf(buf, sizeof(buf), "<%s>", l->from != NULL ?
	    l->from : "");
	field(line, sizeof(line), "from", buf);
	(void)strlcat(line, " to=", sizeof(line));
	for (i = 0; l->env != NULL && i < l->env->nrcpt; i++) {
		log_escape(buf, sizeof(buf), l->env->rcpts[i].addr,
		    strlen(l->env->rcpts[i].addr));
		if (i > 0)
			(void)strlcat(line, ",", sizeof(line));
		(void)strlcat(line, "<", sizeof(line));
		(void)strlcat(line, buf, sizeof(line));
		/* Full: the other 99,999 recipients would not show anyway. */
		if (strlcat(line, ">", sizeof(line)) >= sizeof(line))
			break;
	}
	(void)snprintf(buf, sizeof(buf), "%lld", (long long)l->size);
	field(line, sizeof(line), "size", buf);
	field(line, sizeof(line), "relay", l->relay != NULL &&
	    *l->relay != '\0' ? l->relay : "none");
	(void)snprintf(buf, sizeof(buf), "%.2f", l->delay >= 0 ? l->delay :
	    elapsed());
	field(line, sizeof(line), "delay", buf);
	field(line, sizeof(line), "status", l->status);
	log_escape(reply, sizeof(reply), l->reply != NULL ? l->reply : "",
	    l->reply != NULL ? strlen(l->reply) : 0);
	(void)strlcat(line, " (", sizeof(line));
	(void)strlcat(line, reply, sizeof(line));
	(void)strlcat(line, ")", sizeof(line));
	log_mail(strcmp(l->status, "sent") == 0 ? LOG_INFO : LOG_NOTICE,
	    "%s", line);
}
