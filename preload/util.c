/*
 * util.c - the preload's messages to the user: one line on fd 2 by one raw
 * write (no stdio, errno untouched), and the fatal exit.  Async-signal-safe.
 */
#include <errno.h>
#include <string.h>

#include "preload_internal.h"
#include "rawsys.h"

#define VMC_SAY_PREFIX "vmacheck: "
/* One line, short enough to be written atomically to a pipe (PIPE_BUF)
 * and to sit on a small signal stack. */
#define VMC_SAY_MAX 1024

void vmc_say(const char *msg)
{
	static const char ellipsis[] = "...";
	char line[VMC_SAY_MAX];
	size_t pre = sizeof(VMC_SAY_PREFIX) - 1;
	size_t n = msg ? strlen(msg) : 0;
	/* prefix + msg + "\n" must fit; cut a long msg and mark the cut. */
	size_t room = sizeof(line) - pre - 1;

	memcpy(line, VMC_SAY_PREFIX, pre);
	if (n > room) {
		memcpy(line + pre, msg, room - (sizeof(ellipsis) - 1));
		memcpy(line + pre + room - (sizeof(ellipsis) - 1), ellipsis,
		       sizeof(ellipsis) - 1);
		n = room;
	} else if (n) {
		memcpy(line + pre, msg, n);
	}
	line[pre + n] = '\n';

	long r;
	do
		r = rawsys_write(2, line, pre + n + 1);
	while (r == -EINTR);
}

_Noreturn void vmc_fatal(const char *msg)
{
	vmc_say(msg);
	for (;;)
		rawsys3(SYS_exit_group, 127, 0, 0);
}
