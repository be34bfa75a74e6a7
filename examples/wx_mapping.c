/*
 * wx_mapping.c - a tiny JIT that maps its code buffer writable and
 * executable at once, then writes `mov eax, 42; ret` and calls it.
 * `wx-mapping`: a stray write could rewrite code (map RW, write, then
 * mprotect RX instead).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	unsigned char *code = mmap(NULL, 4096, /* expect: wx-mapping in main */
				   PROT_READ | PROT_WRITE | PROT_EXEC,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return 1;
	static const unsigned char ret42[] = { 0xb8, 42, 0, 0, 0, 0xc3 };
	memcpy(code, ret42, sizeof(ret42));
	int (*fn)(void) = (int (*)(void))code;
	printf("wx_mapping: jitted code returned %d\n", fn());
	munmap(code, 4096);
	return 0;
}
