#define _GNU_SOURCE 1
#include <stdlib.h>

int
main(void)
{
	char *p = malloc(16);

	freezero(p, 16);
	return 0;
}
