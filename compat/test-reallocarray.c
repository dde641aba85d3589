#define _GNU_SOURCE 1
#include <stdlib.h>

int
main(void)
{
	void *p = reallocarray(NULL, 2, 2);

	free(p);
	return p == NULL;
}
