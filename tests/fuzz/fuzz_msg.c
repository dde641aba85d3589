/*
 * The header block and its fix-ups, then the quoted-printable downgrade
 * that a server without 8BITMIME gets: any input that msg_read accepts
 * comes out CRLF only, with no bare CR and no line over 998 octets, and
 * so does its downgrade.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"
#include "fuzz.h"

static void
check_file(const struct msg *m)
{
	unsigned char	*buf;
	ssize_t		 n;

	INVARIANT(m->size >= 0 && m->size < 64 * 1024 * 1024);
	buf = malloc((size_t)m->size + 1);
	INVARIANT(buf != NULL);
	n = pread(m->fd, buf, (size_t)m->size, 0);
	INVARIANT(n == m->size);
	check_wire(buf, (size_t)n);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct msgopts	 o;
	struct msg	 m, d;
	struct err	 e;
	int		 fd;

	if ((fd = memfd_create("fuzz", 0)) == -1)
		return 0;
	if (write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.extract = 1;
	o.sender = "sender@example.org";
	o.maildomain = "example.org";
	o.fullname = "Fuzz Tester";
	o.now = 1795000000;
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (msg_read(fd, &o, &m, &e) == 0) {
		check_file(&m);
		memset(&d, 0, sizeof(d));
		d.fd = -1;
		if (m.eightbit && msg_downgrade(&m, &d, NULL, &e) == 0) {
			check_file(&d);
			msg_close(&d);
		}
	} else
		INVARIANT(e.cls != ERR_NONE && strchr(e.msg, '\n') == NULL);
	msg_close(&m);
	close(fd);
	return 0;
}
