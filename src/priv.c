/*
 * The privilege model (postern(8), "Privileges"): the binary may be
 * installed setgid to a group that owns the spool and may read the system
 * configuration.  Linux checks permissions at every call, so the group is
 * held only around configuration reads and spool operations, and given
 * up (setegid to the real gid) at every other time: never while caller
 * input is parsed, a passwordeval command runs or the network is used.
 * -C gives it up for good (setresgid) before the file is opened.  The
 * process refuses to dump core, so that neither a core file nor
 * /proc/PID/mem shows the configuration's secrets.
 *
 * Without the setgid install, real and effective gid are the same and
 * every function here is a no-op.
 *
 * Who may deliver whose mail: root and the queue runner, the user (postern)
 * whose real group is the one the binary is installed setgid to, deliver
 * every message; any other caller only those it submitted.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "extern.h"

static gid_t	rgid, sgid;	/* the caller's group, the installed one */
static int	revoked;
static int	runner;		/* the caller is the queue runner */

static void
must(int rc, const char *what)
{
	if (rc == -1) {
		/* Going on with the wrong group is worse than stopping. */
		perror(what);
		_exit(71);
	}
}

/*
 * fds 0, 1 and 2 closed by the caller are opened on /dev/null before
 * anything else is opened: else the spool file or a socket would become
 * standard error, and the -v transcript would go into it.
 */
static void
std_fds(void)
{
	int	fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		continue;
	if (fd == -1)
		_exit(71);	/* nowhere to say so */
	close(fd);
}

/*
 * The queue runner: its real group is the group of the setgid binary it
 * runs (so the group is its own, and priv_hold() has nothing to do).
 */
static int
is_runner(void)
{
	struct stat	st;

	return stat("/proc/self/exe", &st) == 0 &&
	    (st.st_mode & S_ISGID) != 0 && st.st_gid == getgid();
}

void
priv_init(void)
{
	struct rlimit	rl = { 0, 0 };

	std_fds();
	rgid = getgid();
	sgid = getegid();
	runner = is_runner();
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	priv_drop();
}

/* The group the binary is installed setgid to (the egid it started with). */
gid_t
priv_group(void)
{
	return sgid;
}

/* May the caller deliver the messages of others (root, the runner)? */
int
priv_trusted(void)
{
	return getuid() == 0 || runner;
}

/*
 * Do the files of the system configuration serve every caller here (the
 * setgid install, not -C)?  Then they belong to root and the group.
 */
int
priv_shared(void)
{
	return (!revoked && sgid != rgid) || runner;
}

void
priv_hold(void)
{
	if (!revoked && sgid != rgid)
		must(setegid(sgid), "setegid");
}

void
priv_drop(void)
{
	if (sgid != rgid)
		must(setegid(rgid), "setegid");
}

/*
 * In a child about to run a command: with group, all three gids the
 * installed group (the system configuration's passwordeval), else all
 * three the caller's, so that the command cannot take the group back.
 */
void
priv_child(int group)
{
	gid_t	g = group && !revoked ? sgid : rgid;

	if (sgid != rgid && setresgid(g, g, g) == -1)
		_exit(126);
}

/* For good: -C, and anything else that runs on the caller's behalf. */
void
priv_revoke(void)
{
	if (sgid != rgid)
		must(setresgid(rgid, rgid, rgid), "setresgid");
	revoked = 1;
}

/* Was the group given up for good (-C)? */
int
priv_revoked(void)
{
	return revoked;
}
