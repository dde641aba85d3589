/*
 * mailq, -bp, and the administration of the queue (--delete, --hold,
 * --release): what is queued, for people (one block per message) and for
 * monitoring scripts (--json, -v: every field, one JSON object per line;
 * --max-age: an exit status a check such as Nagios reads).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

static void
put_date(FILE *fp, long long when)
{
	char		 date[64];
	struct tm	 tm;
	time_t		 t = (time_t)when;

	(void)localtime_r(&t, &tm);
	(void)strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm);
	fputs(date, fp);
}

static const char *
rcpt_state(const struct qent *q, const struct qrcpt *r)
{
	return r->state == Q_PENDING && q->attempts > 0 ? "deferred" :
	    spool_states[r->state];
}

static void
list_one(FILE *fp, const struct qent *q)
{
	size_t	i;

	fprintf(fp, "%-16s %9lld ", q->id, q->size);
	put_date(fp, q->created);
	fprintf(fp, "  <%s>%s\n", q->from, q->held ? " (held)" : "");
	if (q->error != NULL)
		fprintf(fp, "    (%s)\n", q->error);
	fprintf(fp, "    attempts %d", q->attempts);
	if (q->last != 0) {
		fputs(", last ", fp);
		put_date(fp, q->last);
	}
	if (q->held)
		fputs(", held: no next attempt\n", fp);
	else {
		fputs(", next ", fp);
		put_date(fp, q->next);
		putc('\n', fp);
	}
	for (i = 0; i < q->nrcpt; i++)
		fprintf(fp, "    <%s> %s\n", q->rcpts[i].addr,
		    rcpt_state(q, &q->rcpts[i]));
}

/* A JSON string; the spool holds no control characters (spool.c). */
static void
put_json(FILE *fp, const char *key, const char *s)
{
	fprintf(fp, "\"%s\":", key);
	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	putc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putc('\\', fp);
		putc(*s, fp);
	}
	putc('"', fp);
}

static void
json_one(FILE *fp, const struct qent *q)
{
	const struct qrcpt	*r;
	size_t			 i;

	putc('{', fp);
	put_json(fp, "id", q->id);
	fprintf(fp, ",\"version\":%d,\"size\":%lld,\"created\":%lld,",
	    q->version, q->size, q->created);
	put_json(fp, "from", q->from);
	putc(',', fp);
	put_json(fp, "account", q->account);
	putc(',', fp);
	put_json(fp, "conf", q->conf);
	fprintf(fp, ",\"conf_option\":%s,\"uid\":%lld,\"attempts\":%d,"
	    "\"last_attempt\":", q->cflag ? "true" : "false", q->uid,
	    q->attempts);
	if (q->last != 0)
		fprintf(fp, "%lld", q->last);
	else
		fputs("null", fp);
	fprintf(fp, ",\"next_attempt\":%lld,\"held\":%s,\"dsn\":%s,",
	    q->next, q->held ? "true" : "false", q->dsn ? "true" : "false");
	put_json(fp, "error", q->error);
	fputs(",\"recipients\":[", fp);
	for (i = 0; i < q->nrcpt; i++) {
		r = &q->rcpts[i];
		fputs(i > 0 ? ",{" : "{", fp);
		put_json(fp, "address", r->addr);
		putc(',', fp);
		put_json(fp, "state", rcpt_state(q, r));
		fprintf(fp, ",\"code\":%d,", r->code);
		put_json(fp, "text", r->text);
		putc('}', fp);
	}
	fputs("]}\n", fp);
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qitem *)a)->id,
	    ((const struct qitem *)b)->id);
}

/*
 * mailq, -bp: every message, oldest first, as text or (json) one JSON
 * object per line.  With maxage >= 0, *status says 0 when the queue is
 * empty, 1 when every message is younger than maxage seconds, 2 when
 * one is older; else it is 0 whatever the queue holds.
 */
int
mailq_list(const struct account *a, int json, long long maxage, FILE *fp,
    int *status, struct err *e)
{
	struct qitem	*it;
	struct qent	 q;
	size_t		 n, i, shown = 0;
	const char	*dir = conf_queuedir(a);
	long long	 now = (long long)time(NULL);

	*status = 0;
	if (spool_ids(dir, 0, 0, &it, &n, e) == -1)
		return -1;
	/* Ids begin with the time of submission: oldest first. */
	if (n > 1)
		qsort(it, n, sizeof(*it), id_cmp);
	for (i = 0; i < n; i++) {
		if (spool_read(dir, it[i].id, &q) == -1)
			continue;
		if (json)
			json_one(fp, &q);
		else
			list_one(fp, &q);
		if (maxage >= 0)
			*status = now - q.created > maxage ? 2 :
			    *status == 2 ? 2 : 1;
		spool_free(&q);
		shown++;
	}
	spool_items_free(it, n);
	if (json)
		return 0;
	if (shown == 0)
		fprintf(fp, "Mail queue is empty\n");
	else
		fprintf(fp, "-- %zu message%s\n", shown, shown == 1 ? "" : "s");
	return 0;
}

/* --delete, --hold, --release ID. */
int
mailq_admin(const struct account *a, const char *what, const char *id,
    struct err *e)
{
	const char	*dir = conf_queuedir(a);
	struct qent	 q;
	int		 fd, rc;

	if (!spool_valid_id(id))
		return err_set(e, ERR_USAGE, "%s: not a queue id", id);
	/* Whose it is, before the lock: no caller locks another's. */
	if (spool_read(dir, id, &q) == -1)
		return err_set(e, ERR_USAGE, "%s: no such message", id);
	rc = getuid() != 0 && (long long)getuid() != q.uid;
	spool_free(&q);
	if (rc)
		return err_set(e, ERR_NOPERM, "%s: not your message", id);
	if ((fd = spool_lock(dir, id)) == -1) {
		if (errno == EWOULDBLOCK)
			return err_set(e, ERR_TEMP, "%s: being delivered "
			    "right now; try again", id);
		return err_set(e, ERR_USAGE, "%s: no such message", id);
	}
	if (spool_read(dir, id, &q) == -1) {
		close(fd);
		return err_set(e, ERR_USAGE, "%s: no such message", id);
	}
	/* The spool is shared: only root and the submitter may touch it. */
	if (getuid() != 0 && (long long)getuid() != q.uid) {
		spool_free(&q);
		close(fd);
		return err_set(e, ERR_NOPERM, "%s: not your message", id);
	}
	if (strcmp(what, "delete") == 0) {
		rc = spool_remove(dir, id, 1, e);
		log_mail(LOG_INFO, "%s: deleted by uid %lu", id,
		    (unsigned long)getuid());
	} else {
		q.held = strcmp(what, "hold") == 0;
		if (!q.held)
			q.next = time(NULL);
		rc = spool_write(dir, &q, e);
	}
	spool_free(&q);
	close(fd);
	return rc;
}
