/*
 * Delivery status notifications (RFC 3464): the report postern queues to
 * the sender of a message whose recipients were refused for good or
 * expired.  Pure text building; the queue (queue.c) decides when and
 * queues it through the spool (spool.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define DSN_HDRMAX	(64 * 1024)	/* original headers in a DSN */

static void
rfc5322_date(char *buf, size_t size, time_t t)
{
	struct tm	tm;

	(void)localtime_r(&t, &tm);
	(void)strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/*
 * The original header block, CRLF line ends, at most DSN_HDRMAX, within
 * the message's size bytes (its envelope follows in the queue file).
 */
static void
copy_headers(FILE *out, int fd, long long size)
{
	char	*buf, *end;
	ssize_t	 n;

	buf = xcalloc(1, DSN_HDRMAX + 1);
	if ((n = pread(fd, buf, size < DSN_HDRMAX ? (size_t)size : DSN_HDRMAX,
	    0)) > 0) {
		/* The message file has no NUL: strstr sees all of it. */
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			n = end - buf + 2;
		else if ((end = memrchr(buf, '\n', (size_t)n)) != NULL)
			n = end - buf + 1;
		else
			n = 0;
		fwrite(buf, 1, (size_t)n, out);
	}
	free(buf);
}

/*
 * The Status of a failed recipient (RFC 3463): the server's enhanced
 * status code when its reply began with one, else 5.0.0.
 */
static const char *
status_code(const struct qrcpt *qr, char *buf, size_t size)
{
	const char	*t = qr->text;
	size_t		 n;

	if (qr->code >= 500 && t != NULL && t[0] == '5' && t[1] == '.' &&
	    (n = strspn(t + 2, "0123456789.")) >= 3 && n + 2 < size &&
	    (t[n + 2] == ' ' || t[n + 2] == '\0')) {
		memcpy(buf, t, n + 2);
		buf[n + 2] = '\0';
		return buf;
	}
	return "5.0.0";
}

/*
 * A delivery status notification (RFC 3464: multipart/report;
 * report-type=delivery-status, RFC 6522) for the failed recipients of q,
 * with the original headers (text/rfc822-headers).
 */
char *
dsn_make(const struct qent *q, int fd, const char *to, const char *fqdn,
    time_t now, int expired, size_t *len)
{
	FILE		*fp;
	char		*buf = NULL, date[64], boundary[64], st[16];
	uint32_t	 r[2];
	size_t		 i;

	arc4random_buf(r, sizeof(r));
	(void)snprintf(boundary, sizeof(boundary), "%08X%08X/%s", r[0], r[1],
	    fqdn);
	if ((fp = open_memstream(&buf, len)) == NULL) {
		log_warnx("out of memory");
		exit(71);
	}
	rfc5322_date(date, sizeof(date), now);
	fprintf(fp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\nMessage-ID: <%08X%08X.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    "\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is postern on %s.\r\n\r\nYour message %s could not be "
	    "delivered to the recipients below%s.\r\n\r\n", fqdn, to,
	    date, r[0], r[1], fqdn, boundary, boundary, fqdn, q->id,
	    expired ? ": it stayed in the queue for too long" : "");
	for (i = 0; i < q->nrcpt; i++)
		if (q->rcpts[i].state == Q_FAILED)
			fprintf(fp, "<%s>: %s\r\n", q->rcpts[i].addr,
			    q->rcpts[i].text != NULL ? q->rcpts[i].text :
			    "refused");
	rfc5322_date(date, sizeof(date), (time_t)q->created);
	fprintf(fp, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\nX-Postern-Queue-ID: %s\r\n"
	    "Arrival-Date: %s\r\n", boundary, fqdn, q->id, date);
	rfc5322_date(date, sizeof(date), now);
	for (i = 0; i < q->nrcpt; i++) {
		const struct qrcpt *qr = &q->rcpts[i];

		if (qr->state != Q_FAILED)
			continue;
		fprintf(fp, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed"
		    "\r\nStatus: %s\r\n", qr->addr, expired ? "4.4.7" :
		    status_code(qr, st, sizeof(st)));
		if (qr->code >= 200)
			fprintf(fp, "Diagnostic-Code: smtp; %d %s\r\n",
			    qr->code, qr->text != NULL ? qr->text : "");
		fprintf(fp, "Last-Attempt-Date: %s\r\n", date);
	}
	fprintf(fp, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n",
	    boundary);
	copy_headers(fp, fd, q->size);
	fprintf(fp, "\r\n--%s--\r\n", boundary);
	fclose(fp);
	return buf;
}
