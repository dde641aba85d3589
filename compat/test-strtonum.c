#define _GNU_SOURCE 1
#include <stdlib.h>

int
main(void)
{
	const char *errstr;

	return strtonum("42", 0, 100, &errstr) != 42;
}
