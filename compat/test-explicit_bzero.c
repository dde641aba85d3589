#define _GNU_SOURCE 1
#include <string.h>

int
main(void)
{
	char buf[16] = "secret";

	explicit_bzero(buf, sizeof(buf));
	return buf[0];
}
