/*
 * postern -bs: the input is the client's side of an SMTP session, given
 * on standard input to the real server loop (server_run), whose replies
 * are read back from standard output.  Messages are really prepared and
 * delivered, by the real client, to a scripted smarthost that this file
 * runs in a thread on loopback, so that every outcome of a message can
 * be reached: the account "default" gets a server that offers 8BITMIME,
 * the account chosen by MAIL FROM:<seven@example.org> one that does not
 * (the downgrade); at RCPT a local part starting "refuse" gets 550 and
 * one starting "defer" 451.  The queue is off: nothing is ever written
 * to a spool, nothing leaves the machine.  No test seam is needed in the
 * product: server_run() returns (main.c makes the exit status) and reads
 * and writes descriptors 0 and 1, which are swapped in here.
 *
 * Checked of every session: each line written is a well-formed SMTP
 * reply (RFC 5321 section 4.2: three digits 2xx-5xx, then " " or "-",
 * printable text, CRLF, 512 octets at most); a multi-line reply keeps
 * its code; the first reply is the one 220 greeting; 221 is the last
 * reply; what follows a 354 is the message's outcome; there are never
 * more replies than input lines (plus the greeting); and a failed
 * session says why in one line.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "src/extern.h"
#include "fuzz.h"

#define REPLYMAX	512

static char	 dir[] = "/tmp/postern-fuzz-bs.XXXXXX";
static char	 conffile[128];
static int	 saved_in = -1, saved_out = -1;

/* --- the scripted smarthost -------------------------------------------- */

struct peer {
	int	 fd;
	char	 buf[8192];
	size_t	 len;
};

static void
say(struct peer *p, const char *s)
{
	size_t	off = 0, n = strlen(s);
	ssize_t	k;

	while (off < n && (k = write(p->fd, s + off, n - off)) > 0)
		off += (size_t)k;
}

/* The next line, CRLF cut; -1 at EOF.  Longer lines come in pieces. */
static int
peer_line(struct peer *p, char *line, size_t size)
{
	char	*lf;
	size_t	 n;
	ssize_t	 k;

	while ((lf = memchr(p->buf, '\n', p->len)) == NULL &&
	    p->len < sizeof(p->buf)) {
		if ((k = read(p->fd, p->buf + p->len,
		    sizeof(p->buf) - p->len)) <= 0)
			return -1;
		p->len += (size_t)k;
	}
	n = lf != NULL ? (size_t)(lf - p->buf) + 1 : p->len;
	(void)snprintf(line, size, "%.*s", (int)n, p->buf);
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
	line[strcspn(line, "\r\n")] = '\0';
	return 0;
}

static void
serve(int fd, int eightbitmime)
{
	struct timeval	 tv = { 10, 0 };
	struct peer	 p;
	char		 line[8192];

	/* a client that left its connection open must not stop the next */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&p, 0, sizeof(p));
	p.fd = fd;
	say(&p, "220 smarthost ESMTP fuzz\r\n");
	while (peer_line(&p, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0)
			say(&p, eightbitmime ? "250-smarthost\r\n"
			    "250-8BITMIME\r\n250 SIZE 1000000\r\n" :
			    "250 smarthost\r\n");
		else if (strncasecmp(line, "RCPT TO:<refuse", 15) == 0)
			say(&p, "550 5.1.1 refused\r\n");
		else if (strncasecmp(line, "RCPT TO:<defer", 14) == 0)
			say(&p, "451 4.2.0 later\r\n");
		else if (strncasecmp(line, "DATA", 4) == 0) {
			say(&p, "354 go on\r\n");
			while (peer_line(&p, line, sizeof(line)) == 0 &&
			    strcmp(line, ".") != 0)
				;
			say(&p, "250 2.0.0 queued\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			say(&p, "221 2.0.0 bye\r\n");
			break;
		} else
			say(&p, "250 2.0.0 ok\r\n");
	}
	close(fd);
}

static void *
smarthost(void *arg)
{
	struct pollfd	*pfd = arg;
	int		 i, fd;

	for (;;) {
		if (poll(pfd, 2, -1) <= 0)
			continue;
		for (i = 0; i < 2; i++)
			if ((pfd[i].revents & POLLIN) &&
			    (fd = accept(pfd[i].fd, NULL, NULL)) != -1)
				serve(fd, i == 0);
	}
	return NULL;
}

static int
listener(struct pollfd *pfd)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	INVARIANT((pfd->fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	INVARIANT(bind(pfd->fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	INVARIANT(listen(pfd->fd, 16) == 0);
	INVARIANT(getsockname(pfd->fd, (struct sockaddr *)&sin, &len) == 0);
	pfd->events = POLLIN;
	return ntohs(sin.sin_port);
}

static void
setup(void)
{
	static struct pollfd	 pfd[2];
	pthread_t		 t;
	FILE			*fp;
	int			 p8, p7;

	INVARIANT(mkdtemp(dir) != NULL);
	p8 = listener(&pfd[0]);
	p7 = listener(&pfd[1]);
	INVARIANT(pthread_create(&t, NULL, smarthost, pfd) == 0);
	(void)snprintf(conffile, sizeof(conffile), "%s/aliases", dir);
	INVARIANT((fp = fopen(conffile, "w")) != NULL);
	fprintf(fp, "root: admin@example.org, ops\nops: refuse@example.net\n");
	fclose(fp);
	(void)snprintf(conffile, sizeof(conffile), "%s/postern.conf", dir);
	INVARIANT((fp = fopen(conffile, "w")) != NULL);
	fprintf(fp, "defaults\ntls off\nqueue off\nsyslog off\ntimeout 5\n"
	    "aliases %s/aliases\ndomain fuzz.example\n"
	    "maildomain example.org\nhost 127.0.0.1\n\n"
	    "account default\nport %d\nfrom sender@example.org\n\n"
	    "account seven\nport %d\nfrom seven@example.org\n", dir, p8, p7);
	fclose(fp);
	INVARIANT((saved_in = dup(STDIN_FILENO)) != -1);
	INVARIANT((saved_out = dup(STDOUT_FILENO)) != -1);
	log_quiet(1);
}

/* --- the invariants ---------------------------------------------------- */

/* One reply line, p[0..n) with its CRLF: its code, and *more for "-". */
static int
reply_line(const unsigned char *p, size_t n, int *more)
{
	size_t	i;

	INVARIANT(n >= 6 && n <= REPLYMAX);
	INVARIANT(p[0] >= '2' && p[0] <= '5');
	INVARIANT(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9');
	INVARIANT(p[3] == ' ' || p[3] == '-');
	for (i = 4; i < n - 2; i++)
		INVARIANT(p[i] >= 0x20 && p[i] <= 0x7e);
	INVARIANT(p[n - 2] == '\r' && p[n - 1] == '\n');
	*more = p[3] == '-';
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static void
check_replies(const unsigned char *p, size_t n, size_t inlines)
{
	const unsigned char	*lf;
	size_t			 k, finals = 0;
	int			 code, prev = 0, more = 0, cont = 0;
	int			 indata = 0, quit = 0;

	while (n > 0) {
		INVARIANT((lf = memchr(p, '\n', n)) != NULL);
		k = (size_t)(lf - p) + 1;
		code = reply_line(p, k, &more);
		if (cont)
			INVARIANT(code == prev);	/* section 4.2.1 */
		INVARIANT(!quit);		/* nothing after 221 */
		if (finals == 0)
			INVARIANT(code == 220 || code == 421);
		else
			INVARIANT(code != 220);
		if (!more) {
			if (indata)
				INVARIANT(code == 250 || code == 451 ||
				    code == 452 || code == 550 ||
				    code == 554);
			indata = code == 354;
			quit = code == 221;
			finals++;
		}
		prev = code;
		cont = more;
		p += k;
		n -= k;
	}
	INVARIANT(!cont);
	INVARIANT(finals >= 1 && finals <= inlines + 1);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct server_opts	 so;
	struct err		 e;
	unsigned char		*out;
	size_t			 i, lines = 0;
	off_t			 n;
	int			 in, o, rc;

	if (saved_in == -1)
		setup();
	INVARIANT((in = memfd_create("stdin", 0)) != -1);
	INVARIANT((o = memfd_create("stdout", 0)) != -1);
	INVARIANT(write(in, data, size) == (ssize_t)size);
	INVARIANT(lseek(in, 0, SEEK_SET) == 0);
	INVARIANT(dup2(in, STDIN_FILENO) != -1 && dup2(o, STDOUT_FILENO) != -1);
	close(in);
	memset(&so, 0, sizeof(so));
	so.conffile = conffile;
	memset(&e, 0, sizeof(e));
	rc = server_run(&so, &e);
	INVARIANT(dup2(saved_in, STDIN_FILENO) != -1 &&
	    dup2(saved_out, STDOUT_FILENO) != -1);
	if (rc == -1)
		INVARIANT(e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL);
	INVARIANT((n = lseek(o, 0, SEEK_END)) >= 0);
	out = malloc((size_t)n + 1);
	INVARIANT(out != NULL && pread(o, out, (size_t)n, 0) == n);
	close(o);
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	check_replies(out, (size_t)n, lines);
	free(out);
	return 0;
}
