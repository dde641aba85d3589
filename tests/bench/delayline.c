/*
 * delayline: a userspace delay line between two TUN devices (the kernel here
 * has no netem).
 *
 * Usage: delayline DEV0 DEV1 DELAY_US
 *
 * Creates the TUN devices DEV0 and DEV1 (IFF_TUN | IFF_NO_PI) in the current
 * network namespace, prints "ready" on standard output, then forwards every
 * packet read from one device to the other after DELAY_US microseconds
 * (the one-way delay; the round trip time is twice that).  The caller moves
 * the devices into their namespaces with `ip link set DEV netns NS`; this
 * process keeps the file descriptors, so the devices vanish when it exits.
 *
 * Each line read on standard input sets a new one-way delay in microseconds
 * for the packets read from then on.  End of input or SIGTERM ends the
 * process.
 *
 * Timing: each packet gets a deadline on CLOCK_MONOTONIC when it is read;
 * the delay is constant, so each direction is a FIFO ordered by deadline.
 * The process sleeps in ppoll() with a nanosecond timeout until the earliest
 * deadline (timer slack set to 1 ns), then writes every packet that is due.
 * Packets are never reordered or dropped unless a queue overflows.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QCAP	8192	/* packets in flight per direction */
#define PKTMAX	65536

struct pkt {
	int64_t		 due;	/* ns, CLOCK_MONOTONIC */
	size_t		 len;
	unsigned char	*buf;
};

struct queue {
	struct pkt	 q[QCAP];
	size_t		 head, n;
	unsigned long	 dropped;
};

static struct queue	 queues[2];
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
tun_open(const char *name)
{
	struct ifreq ifr;
	int fd;

	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1) {
		perror("/dev/net/tun");
		exit(1);
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (strlen(name) >= sizeof(ifr.ifr_name)) {
		fprintf(stderr, "delayline: name too long: %s\n", name);
		exit(1);
	}
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		perror("TUNSETIFF");
		exit(1);
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		perror("fcntl");
		exit(1);
	}
	return fd;
}

/* Write every packet of q that is due at now to fd. */
static void
flush_due(struct queue *q, int fd, int64_t now)
{
	struct pkt *p;

	while (q->n > 0 && q->q[q->head].due <= now) {
		p = &q->q[q->head];
		/* A TUN write either takes the whole packet or fails; a failure
		 * (device down, no buffer) is a lost packet, as on a wire. */
		(void)write(fd, p->buf, p->len);
		free(p->buf);
		q->head = (q->head + 1) % QCAP;
		q->n--;
	}
}

int
main(int argc, char **argv)
{
	static unsigned char buf[PKTMAX];
	struct pollfd pfd[3];
	struct sigaction sa;
	struct timespec ts, *tsp;
	char line[64];
	size_t linelen = 0;
	int64_t delay, now, next;
	int fd[2], i;
	ssize_t r;

	if (argc != 4) {
		fprintf(stderr, "usage: delayline DEV0 DEV1 DELAY_US\n");
		return 64;
	}
	delay = strtoll(argv[3], NULL, 10) * 1000;
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fd[0] = tun_open(argv[1]);
	fd[1] = tun_open(argv[2]);
	printf("ready\n");
	fflush(stdout);

	pfd[0].fd = fd[0];
	pfd[1].fd = fd[1];
	pfd[2].fd = STDIN_FILENO;
	while (!stop) {
		now = now_ns();
		next = -1;
		for (i = 0; i < 2; i++) {
			flush_due(&queues[i], fd[!i], now);
			if (queues[i].n > 0) {
				int64_t d = queues[i].q[queues[i].head].due;
				if (next == -1 || d < next)
					next = d;
			}
		}
		if (next == -1)
			tsp = NULL;
		else {
			int64_t w = next - now;
			if (w < 0)
				w = 0;
			ts.tv_sec = w / 1000000000;
			ts.tv_nsec = w % 1000000000;
			tsp = &ts;
		}
		for (i = 0; i < 3; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (ppoll(pfd, 3, tsp, NULL) == -1) {
			if (errno == EINTR)
				continue;
			perror("ppoll");
			return 1;
		}
		now = now_ns();
		for (i = 0; i < 2; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((r = read(fd[i], buf, sizeof(buf))) > 0) {
				struct queue *q = &queues[i];
				struct pkt *p;

				if (q->n == QCAP) {
					q->dropped++;
					continue;
				}
				p = &q->q[(q->head + q->n) % QCAP];
				if ((p->buf = malloc((size_t)r)) == NULL) {
					q->dropped++;
					continue;
				}
				memcpy(p->buf, buf, (size_t)r);
				p->len = (size_t)r;
				p->due = now + delay;
				q->n++;
			}
		}
		if (pfd[2].revents & (POLLIN | POLLHUP)) {
			r = read(STDIN_FILENO, line + linelen,
			    sizeof(line) - 1 - linelen);
			if (r <= 0)
				break;
			linelen += (size_t)r;
			line[linelen] = '\0';
			char *nl;
			while ((nl = strchr(line, '\n')) != NULL) {
				*nl = '\0';
				delay = strtoll(line, NULL, 10) * 1000;
				memmove(line, nl + 1, strlen(nl + 1) + 1);
				linelen = strlen(line);
			}
			if (linelen == sizeof(line) - 1)
				linelen = 0;
		}
	}
	if (queues[0].dropped || queues[1].dropped)
		fprintf(stderr, "delayline: dropped %lu + %lu packets\n",
		    queues[0].dropped, queues[1].dropped);
	return 0;
}
