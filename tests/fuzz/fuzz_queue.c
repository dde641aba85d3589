/*
 * The queue file (ID.env), read through mailq (mailq_list), which parses
 * every envelope file of the spool: a corrupt or hostile file is skipped
 * or listed, never a crash; nothing the listing prints holds a control
 * character other than the line ends.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"
#include "fuzz.h"

static char	 spool[] = "/tmp/postern-fuzz-queue.XXXXXX";
static int	 ready;

static void
put(const char *name, const unsigned char *data, size_t size)
{
	char	path[128];
	int	fd;

	(void)snprintf(path, sizeof(path), "%s/%s", spool, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	INVARIANT(fd != -1);
	INVARIANT(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct account	 a;
	struct err	 e;
	char		*out = NULL;
	size_t		 outlen = 0, i;
	int		 status;
	FILE		*fp;

	if (!ready) {
		INVARIANT(mkdtemp(spool) != NULL);
		put("0000000000000001.msg", (const unsigned char *)
		    "Subject: x\r\n\r\nx\r\n", 17);
		ready = 1;
	}
	put("0000000000000001.env", data, size);
	memset(&a, 0, sizeof(a));
	a.queue_dir = spool;
	if ((fp = open_memstream(&out, &outlen)) == NULL)
		return 0;
	(void)mailq_list(&a, 0, -1, fp, &status, &e);
	(void)mailq_list(&a, 1, 0, fp, &status, &e);
	fclose(fp);
	for (i = 0; i < outlen; i++)
		INVARIANT(out[i] == '\n' || out[i] == '\t' ||
		    (unsigned char)out[i] >= 0x20);
	free(out);
	return 0;
}
