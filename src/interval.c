/*
 * postern -q30m: the long-running queue runner of a container or a
 * systemd service, as nullmailer-send is.  It runs the queue at once and
 * then every interval, in the foreground, and also as soon as a message
 * is committed to the queue directory: a commit is a rename into the
 * directory, so inotify's IN_MOVED_TO wakes it, and the run finds what is
 * due.  The submission still holds the message's lock then (a run skips a
 * locked message), and gives it up when it closes the file it wrote: so
 * IN_CLOSE_WRITE wakes it too.  Where inotify is missing or refused, the
 * interval alone drives it.
 *
 * SIGTERM and SIGINT only set a flag (SA_RESTART; the code that talks to
 * the network retries what a signal interrupts), so no message is left
 * half-handled: a signal that comes during a run is obeyed after the
 * message being delivered (the runner asks interval_stopping() between
 * messages; the others stay queued), and the process exits 0.  While the
 * loop waits they are unblocked only inside ppoll(), so none is missed.
 * They are never blocked otherwise: a passwordeval command, and anything
 * it leaves running, gets the usual signal mask.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/inotify.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define INTERVAL_MAX	(366LL * 24 * 60 * 60)	/* a year */
#define INTERVAL_GAPMS	250	/* at least this between two wake-ups */

/*
 * A sendmail interval: numbers each followed by s, m, h, d or w ("1h30m");
 * a number without a unit is minutes, as in sendmail.  0 and -1 when it is
 * not one, or is zero or longer than a year.
 */
int
interval_parse(const char *s, long long *secs)
{
	static const struct {
		char		c;
		long long	mult;
	} units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	char		 num[16];
	const char	*errstr;
	long long	 n, total = 0;
	size_t		 len, i;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if ((len = strspn(s, "0123456789")) == 0 ||
		    len >= sizeof(num))
			return -1;
		memcpy(num, s, len);
		num[len] = '\0';
		n = strtonum(num, 0, INTERVAL_MAX, &errstr);
		if (errstr != NULL)
			return -1;
		s += len;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*s == units[i].c)
				break;
		if (i < sizeof(units) / sizeof(units[0])) {
			n *= units[i].mult;
			s++;
		} else if (*s == '\0')
			n *= 60;
		else
			return -1;
		if (n > INTERVAL_MAX || (total += n) > INTERVAL_MAX)
			return -1;
	}
	if (total == 0)
		return -1;
	*secs = total;
	return 0;
}

/* The stop signal taken, 0 while none came (set by the handler). */
static volatile sig_atomic_t	stopping;

static void
onstop(int sig)
{
	stopping = sig;
}

/*
 * Whether SIGTERM or SIGINT came and waits to be obeyed: the runner asks
 * between messages.  Always 0 outside postern -qINTERVAL.
 */
int
interval_stopping(void)
{
	return stopping != 0;
}

static long long
now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The inotify descriptor watching dir for commits, or -1 (said once)
 * where inotify cannot be had: the interval still drives the runs.
 */
static int
watch(const char *dir)
{
	int	fd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_mail(LOG_WARNING, "inotify: %s: new messages wait for the "
		    "next interval", strerror(errno));
		return -1;
	}
	priv_hold();
	if (inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE |
	    IN_ONLYDIR) == -1) {
		priv_drop();
		log_mail(LOG_WARNING, "inotify on %s: %s: new messages wait for "
		    "the next interval", dir, strerror(errno));
		close(fd);
		return -1;
	}
	priv_drop();
	return fd;
}

/* Read every queued event; their names do not matter, the run decides. */
static void
drain(int fd)
{
	char	buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
}

/*
 * Wait until the interval is due, a commit was seen (and INTERVAL_GAPMS have
 * passed since the last run began), or a stop signal: 1 to run, 0 to stop.
 */
static int
wait_next(const sigset_t *stopset, int ifd, long long due, long long last)
{
	struct pollfd	 pfd;
	struct timespec	 ts;
	sigset_t	 old;
	long long	 wake = due, now;
	int		 woken = 0, rc = 1, n;

	if (sigprocmask(SIG_BLOCK, stopset, &old) == -1)
		return 1;
	while (!stopping) {
		now = now_ms();
		if (woken)
			wake = last + INTERVAL_GAPMS < due ?
			    last + INTERVAL_GAPMS : due;
		if (now >= wake)
			break;
		ts.tv_sec = (wake - now) / 1000;
		ts.tv_nsec = (wake - now) % 1000 * 1000000;
		pfd.fd = ifd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* The stop signals are let in here only, atomically. */
		n = ppoll(&pfd, ifd == -1 ? 0 : 1, &ts, &old);
		if (n == -1 && errno != EINTR)
			break;		/* cannot wait: run, then try again */
		if (n > 0 && (pfd.revents & POLLIN)) {
			drain(ifd);
			woken = 1;
		}
	}
	if (stopping)
		rc = 0;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * postern -qINTERVAL: queue runs until SIGTERM or SIGINT.  An error of
 * the first run ends it (a queue that cannot be read at all is a setup
 * error); later ones are said and the loop goes on.
 */
int
interval_run(struct conf *c, const struct account *a,
    const struct qsel *sel, const char *fqdn, long long every,
    struct err *e)
{
	struct sigaction sa, oterm, oint;
	sigset_t	 stopset;
	const char	*dir = conf_queuedir(a);
	long long	 due, last;
	int		 ifd, first = 1, rc = 0;

	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onstop;
	sa.sa_mask = stopset;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, &oterm) == -1 ||
	    sigaction(SIGINT, &sa, &oint) == -1)
		return err_set(e, ERR_OS, "sigaction: %s", strerror(errno));
	/* Every line, the runner's and each message's: logfile, else stderr. */
	if (a->logfile == NULL)
		log_setup(NULL, a->syslog, "-", a->logtime);
	ifd = watch(dir);
	log_mail(LOG_INFO, "running the queue %s every %llds%s", dir, every,
	    ifd != -1 ? " and on each new message" : "");
	due = now_ms() + every * 1000;
	for (;;) {
		if (interval_stopping())
			break;
		last = now_ms();
		if (queue_run(c, a, sel, fqdn, e) == -1) {
			if (first) {
				rc = -1;
				break;
			}
			log_mail(LOG_ERR, "queue run: %s", e->msg);
		}
		first = 0;
		if (now_ms() >= due)
			due = now_ms() + every * 1000;
		if (!wait_next(&stopset, ifd, due, last))
			break;
	}
	if (rc == 0)
		log_mail(LOG_INFO, "queue runner stopped by a signal");
	if (ifd != -1)
		close(ifd);
	(void)sigaction(SIGTERM, &oterm, NULL);
	(void)sigaction(SIGINT, &oint, NULL);
	return rc;
}
