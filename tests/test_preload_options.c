/*
 * test_preload_options.c - unit tests for preload/options.c
 * (VMACHECK_OPTIONS) and the message functions of preload/util.c.
 *
 * Test cases: defaults, keys (every key with good and bad values, the exact
 * error lines), separators (':' ',' whitespace, "check=every:N" anywhere in
 * the string), errors (malformed pairs, truncation of the message, the
 * options left as they were), env (vmc_env_get), say (vmc_say and
 * vmc_fatal output and exit status).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload_internal.h"

static struct vmc_options o, ref;
static char err[512];

static void setup(void)
{
	vmc_options_default(&o);
	vmc_options_default(&ref);
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
}

/* Parse s into o; expect success. */
static void ok(const char *s)
{
	int r = vmc_options_parse(s, &o, err, sizeof(err));
	ck_assert_msg(r == 0, "'%s' rejected: %s", s, err);
	ck_assert_str_eq(err, "");
}

/* Parse s; expect -EINVAL, the message msg, and o unchanged. */
static void bad(const char *s, const char *msg)
{
	struct vmc_options before = o;
	int r = vmc_options_parse(s, &o, err, sizeof(err));
	ck_assert_msg(r == -EINVAL, "'%s' accepted (%d)", s, r);
	ck_assert_str_eq(err, msg);
	ck_assert_msg(memcmp(&before, &o, sizeof(o)) == 0,
		      "'%s' changed the options", s);
}

/* ---- defaults -------------------------------------------------------- */

START_TEST(test_defaults)
{
	vmc_options_default(&o);
	ck_assert_str_eq(o.out_dir, "vmacheck-out");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 4096);
	ck_assert_int_eq(o.stack_depth, 16);
	ck_assert_str_eq(o.suppressions, "");
	ck_assert_int_eq(o.error_exitcode, 99);
	ck_assert_int_eq(o.uffd, VMC_UFFD_OFF);
	ck_assert_str_eq(o.json, "");
	ck_assert_str_eq(o.text, "");
	ck_assert_str_eq(o.sarif, "");
	ck_assert_int_eq(o.max_map_share, 50);

	/* Empty strings and separators alone change nothing. */
	ok("");
	ok(":, \t\n,:");
	ck_assert(memcmp(&o, &ref, sizeof(o)) == 0);
	ck_assert_int_eq(vmc_options_parse(NULL, &o, err, sizeof(err)), 0);
	/* err is optional. */
	ck_assert_int_eq(vmc_options_parse("stack-depth=3", &o, NULL, 0), 0);
	ck_assert_int_eq(vmc_options_parse("nope=1", &o, NULL, 0), -EINVAL);
	ck_assert_int_eq(o.stack_depth, 3);
}
END_TEST

/* ---- every key ------------------------------------------------------- */

START_TEST(test_check)
{
	ok("check=exit");
	ck_assert_int_eq(o.check, VMC_CHECK_EXIT);
	ok("check=call");
	ck_assert_int_eq(o.check, VMC_CHECK_CALL);
	ok("check=every:1");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 1);
	ok("check=exit");
	ok("check=every:4294967295");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 4294967295u);
	ok("check=every:007");
	ck_assert_uint_eq(o.check_every, 7);

	bad("check=sometimes",
	    "bad option 'check=sometimes': expected exit, call or every:N");
	bad("check=", "bad option 'check=': expected exit, call or every:N");
	bad("check=EXIT", "bad option 'check=EXIT': expected exit, call or "
			  "every:N");
	bad("check=every",
	    "bad option 'check=every': expected every:N with N from 1 to "
	    "4294967295");
	bad("check=every:", "bad option 'check=every:': expected every:N "
			    "with N from 1 to 4294967295");
	bad("check=every:0", "bad option 'check=every:0': expected every:N "
			     "with N from 1 to 4294967295");
	bad("check=every:4294967296",
	    "bad option 'check=every:4294967296': expected every:N with N "
	    "from 1 to 4294967295");
	bad("check=every:12x", "bad option 'check=every:12x': expected "
			       "every:N with N from 1 to 4294967295");
	bad("check=every:-5", "bad option 'check=every:-5': expected every:N "
			      "with N from 1 to 4294967295");
	bad("check=every:99999999999999999999999",
	    "bad option 'check=every:99999999999999999999999': expected "
	    "every:N with N from 1 to 4294967295");
	/* Only ':' joins the number to "every". */
	bad("check=every,100", "bad option 'check=every': expected every:N "
			       "with N from 1 to 4294967295");
	bad("check=every 100", "bad option 'check=every': expected every:N "
			       "with N from 1 to 4294967295");
	/* The token after "every:" is the number, whatever it looks like. */
	bad("check=every:stack-depth=3",
	    "bad option 'check=every:stack-depth=3': expected every:N with N "
	    "from 1 to 4294967295");
	/* "every" means the number only in a check pair. */
	bad("uffd=every:3", "bad option 'uffd=every': expected off, on or "
			    "touch");
}
END_TEST

START_TEST(test_stack_depth)
{
	ok("stack-depth=0");
	ck_assert_int_eq(o.stack_depth, 0);
	ok("stack-depth=64");
	ck_assert_int_eq(o.stack_depth, 64);
	ok("stack_depth=5");
	ck_assert_int_eq(o.stack_depth, 5);
	bad("stack-depth=x",
	    "bad option 'stack-depth=x': not a number from 0 to 64");
	bad("stack-depth=65",
	    "bad option 'stack-depth=65': not a number from 0 to 64");
	bad("stack-depth=", "bad option 'stack-depth=': not a number from 0 "
			    "to 64");
	bad("stack-depth=-1", "bad option 'stack-depth=-1': not a number "
			      "from 0 to 64");
	bad("stack-depth=+1", "bad option 'stack-depth=+1': not a number "
			      "from 0 to 64");
	bad("stack-depth=8k", "bad option 'stack-depth=8k': not a number "
			      "from 0 to 64");
	bad("stack-depth=0x10", "bad option 'stack-depth=0x10': not a number "
				"from 0 to 64");
	bad("stack-depth=18446744073709551616",
	    "bad option 'stack-depth=18446744073709551616': not a number "
	    "from 0 to 64");
	ck_assert_int_eq(o.stack_depth, 5);
}
END_TEST

START_TEST(test_error_exitcode)
{
	ok("error-exitcode=0");
	ck_assert_int_eq(o.error_exitcode, 0);
	ok("error_exitcode=255");
	ck_assert_int_eq(o.error_exitcode, 255);
	bad("error-exitcode=256", "bad option 'error-exitcode=256': not a "
				  "number from 0 to 255");
	bad("error-exitcode=1.5", "bad option 'error-exitcode=1.5': not a "
				  "number from 0 to 255");
	bad("error-exitcode= 1", "bad option 'error-exitcode=': not a "
				 "number from 0 to 255");
}
END_TEST

START_TEST(test_max_map_share)
{
	ok("max-map-share=1");
	ck_assert_int_eq(o.max_map_share, 1);
	ok("max_map_share=100");
	ck_assert_int_eq(o.max_map_share, 100);
	bad("max-map-share=0", "bad option 'max-map-share=0': not a number "
			       "from 1 to 100");
	bad("max-map-share=101", "bad option 'max-map-share=101': not a "
				 "number from 1 to 100");
	bad("max-map-share=50%", "bad option 'max-map-share=50%': not a "
				 "number from 1 to 100");
}
END_TEST

START_TEST(test_uffd)
{
	ok("uffd=on");
	ck_assert_int_eq(o.uffd, VMC_UFFD_ON);
	ok("uffd=touch");
	ck_assert_int_eq(o.uffd, VMC_UFFD_TOUCH);
	ok("uffd=off");
	ck_assert_int_eq(o.uffd, VMC_UFFD_OFF);
	bad("uffd=yes", "bad option 'uffd=yes': expected off, on or touch");
	bad("uffd=", "bad option 'uffd=': expected off, on or touch");
	bad("uffd=onn", "bad option 'uffd=onn': expected off, on or touch");
}
END_TEST

START_TEST(test_paths)
{
	ok("out-dir=/tmp/results");
	ck_assert_str_eq(o.out_dir, "/tmp/results");
	ok("out_dir=rel/dir");
	ck_assert_str_eq(o.out_dir, "rel/dir");
	ok("suppressions=/etc/vmc.supp");
	ck_assert_str_eq(o.suppressions, "/etc/vmc.supp");
	ok("json=/tmp/r.json text=/tmp/r.txt sarif=/tmp/r.sarif");
	ck_assert_str_eq(o.json, "/tmp/r.json");
	ck_assert_str_eq(o.text, "/tmp/r.txt");
	ck_assert_str_eq(o.sarif, "/tmp/r.sarif");
	/* A value may hold '=' (only the first one splits). */
	ok("json=a=b");
	ck_assert_str_eq(o.json, "a=b");
	/* Empty clears an optional output; out-dir cannot be empty. */
	ok("json=");
	ck_assert_str_eq(o.json, "");
	ok("suppressions=");
	ck_assert_str_eq(o.suppressions, "");
	bad("out-dir=", "bad option 'out-dir=': empty path");

	/* PATH_MAX - 1 bytes fit, PATH_MAX do not; the message shows the
	 * first bytes of the pair and marks the cut. */
	static char s[PATH_MAX + 64], want[512];
	size_t pre = strlen("out-dir=");
	memcpy(s, "out-dir=", pre);
	memset(s + pre, 'a', PATH_MAX - 1);
	s[pre + PATH_MAX - 1] = 0;
	ok(s);
	ck_assert_uint_eq(strlen(o.out_dir), PATH_MAX - 1);
	ck_assert_int_eq(o.out_dir[PATH_MAX - 2], 'a');
	s[pre + PATH_MAX - 1] = 'a';
	s[pre + PATH_MAX] = 0;
	snprintf(want, sizeof(want), "bad option 'out-dir=%.*s...': path "
		 "longer than %d bytes", 157 - (int)pre, s + pre,
		 PATH_MAX - 1);
	bad(s, want);
	memcpy(s, "sarif=", 6);
	memset(s + 6, 'b', PATH_MAX + 10);
	s[6 + PATH_MAX + 10] = 0;
	ck_assert_int_eq(vmc_options_parse(s, &o, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "path longer than 4095 bytes"));
}
END_TEST

/* ---- separators and sequences ---------------------------------------- */

START_TEST(test_separators)
{
	ok("stack-depth=1:error-exitcode=2,max-map-share=3 uffd=on\tjson=j"
	   "\ntext=t");
	ck_assert_int_eq(o.stack_depth, 1);
	ck_assert_int_eq(o.error_exitcode, 2);
	ck_assert_int_eq(o.max_map_share, 3);
	ck_assert_int_eq(o.uffd, VMC_UFFD_ON);
	ck_assert_str_eq(o.json, "j");
	ck_assert_str_eq(o.text, "t");

	/* check=every:N at the start, in the middle and at the end, with
	 * every kind of separator around it. */
	setup();
	ok("check=every:10:stack-depth=4");
	ck_assert_uint_eq(o.check_every, 10);
	ck_assert_int_eq(o.stack_depth, 4);
	setup();
	ok("uffd=touch:check=every:4096:stack-depth=7:json=x");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 4096);
	ck_assert_int_eq(o.uffd, VMC_UFFD_TOUCH);
	ck_assert_int_eq(o.stack_depth, 7);
	ck_assert_str_eq(o.json, "x");
	setup();
	ok("check=call, check=every:33 ,stack-depth=2");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 33);
	ck_assert_int_eq(o.stack_depth, 2);
	setup();
	ok("json=a::check=every:5::");
	ck_assert_uint_eq(o.check_every, 5);
	ck_assert_str_eq(o.json, "a");

	/* Duplicates: the last one wins. */
	setup();
	ok("stack-depth=1 stack-depth=2:stack_depth=3");
	ck_assert_int_eq(o.stack_depth, 3);
	ok("check=every:9:check=exit");
	ck_assert_int_eq(o.check, VMC_CHECK_EXIT);
	ck_assert_uint_eq(o.check_every, 9);
	ok("check=exit:check=every:11");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 11);

	/* Parsing starts from the current values. */
	ok("uffd=on");
	ck_assert_int_eq(o.stack_depth, 3);
	ck_assert_uint_eq(o.check_every, 11);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_errors)
{
	bad("colour=red", "bad option 'colour=red': unknown option");
	bad("stack-depth=3:frobnicate=1",
	    "bad option 'frobnicate=1': unknown option");
	bad("Stack-depth=3", "bad option 'Stack-depth=3': unknown option");
	bad("stack--depth=3", "bad option 'stack--depth=3': unknown option");
	bad("stack-dept=3", "bad option 'stack-dept=3': unknown option");
	bad("stack-depth-=3", "bad option 'stack-depth-=3': unknown option");
	bad("stack-depth", "bad option 'stack-depth': expected key=value");
	bad("uffd=on verbose", "bad option 'verbose': expected key=value");
	bad("=3", "bad option '=3': missing key");
	/* The first bad pair is named; nothing before it is applied. */
	bad("stack-depth=3 uffd=maybe error-exitcode=x",
	    "bad option 'uffd=maybe': expected off, on or touch");
	ck_assert_int_eq(o.stack_depth, 16);
	/* Control bytes in the pair are shown as '?': one line always. */
	bad("json=a\x1b[31m foo\x7f\x01=1",
	    "bad option 'foo?" "?=1': unknown option");
}
END_TEST

START_TEST(test_error_buffer)
{
	/* The message is cut to fit and always terminated. */
	char small[16];
	memset(small, 'X', sizeof(small));
	ck_assert_int_eq(vmc_options_parse("nope=1", &o, small, sizeof(small)),
			 -EINVAL);
	ck_assert_str_eq(small, "bad option 'nop");
	char one[1] = { 'X' };
	ck_assert_int_eq(vmc_options_parse("nope=1", &o, one, 1), -EINVAL);
	ck_assert_int_eq(one[0], 0);
	/* A long unknown key is cut too. */
	static char s[1000];
	memset(s, 'k', 600);
	memcpy(s + 600, "=v", 3);
	ck_assert_int_eq(vmc_options_parse(s, &o, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(strlen(err), strlen("bad option '") + 160 +
				       strlen("': unknown option"));
	ck_assert_ptr_nonnull(strstr(err, "kkk...': unknown option"));
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* ---- env ------------------------------------------------------------- */

START_TEST(test_env_get)
{
	char *envp[] = {
		"PATH=/bin", "VMACHECK_OPTIONS_X=no", "VMACHECK=no",
		"VMACHECK_OPTIONS=check=every:4096", "EMPTY=", "NOEQ",
		"VMACHECK_OPTIONS=second", NULL,
	};
	ck_assert_str_eq(vmc_env_get(envp, "VMACHECK_OPTIONS"),
			 "check=every:4096");
	ck_assert_str_eq(vmc_env_get(envp, "PATH"), "/bin");
	ck_assert_str_eq(vmc_env_get(envp, "EMPTY"), "");
	ck_assert_ptr_null(vmc_env_get(envp, "NOEQ"));
	ck_assert_ptr_null(vmc_env_get(envp, "VMACHECK_OPT"));
	ck_assert_ptr_null(vmc_env_get(envp, "MISSING"));
	ck_assert_ptr_null(vmc_env_get(envp, ""));
	ck_assert_ptr_null(vmc_env_get(envp, NULL));
	ck_assert_ptr_null(vmc_env_get(NULL, "PATH"));
	char *none[] = { NULL };
	ck_assert_ptr_null(vmc_env_get(none, "PATH"));

	/* The real environment, as the runtime reads it. */
	extern char **environ;
	ck_assert_int_eq(setenv("VMC_TEST_OPT", "uffd=on", 1), 0);
	ck_assert_str_eq(vmc_env_get(environ, "VMC_TEST_OPT"), "uffd=on");
	ck_assert_int_eq(unsetenv("VMC_TEST_OPT"), 0);
	ck_assert_ptr_null(vmc_env_get(environ, "VMC_TEST_OPT"));
	/* Parse what was found. */
	ok(vmc_env_get(envp, "VMACHECK_OPTIONS"));
	ck_assert_uint_eq(o.check_every, 4096);
}
END_TEST

/* ---- vmc_say, vmc_fatal ---------------------------------------------- */

/* Run fn(arg) with fd 2 on a pipe; return what it wrote (at most n-1
 * bytes). */
static size_t capture_stderr(void (*fn)(const char *), const char *arg,
			     char *out, size_t n)
{
	int fds[2], saved = dup(2);
	size_t got = 0;
	long r;

	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(pipe(fds), 0);
	dup2(fds[1], 2);
	fn(arg);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	while (got + 1 < n && (r = read(fds[0], out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(fds[0]);
	return got;
}

START_TEST(test_say)
{
	static char out[4096], msg[3000];

	capture_stderr(vmc_say, "hello", out, sizeof(out));
	ck_assert_str_eq(out, "vmacheck: hello\n");
	capture_stderr(vmc_say, "", out, sizeof(out));
	ck_assert_str_eq(out, "vmacheck: \n");
	/* A long message is cut (one line of 1024 bytes, one write). */
	memset(msg, 'm', sizeof(msg) - 1);
	size_t n = capture_stderr(vmc_say, msg, out, sizeof(out));
	ck_assert_uint_eq(n, 1024);
	ck_assert_int_eq(out[1023], '\n');
	ck_assert_mem_eq(out + 1020, "...\n", 4);
	ck_assert_ptr_null(memchr(out, '\n', 1023));
}
END_TEST

START_TEST(test_fatal)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		vmc_fatal("cannot go on");
	}
	close(fds[1]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 127);
	char out[64] = { 0 };
	ck_assert_int_gt(read(fds[0], out, sizeof(out) - 1), 0);
	close(fds[0]);
	ck_assert_str_eq(out, "vmacheck: cannot go on\n");
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("preload_options");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_defaults);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_stack_depth);
	tcase_add_test(tc, test_error_exitcode);
	tcase_add_test(tc, test_max_map_share);
	tcase_add_test(tc, test_uffd);
	tcase_add_test(tc, test_paths);
	suite_add_tcase(s, tc);

	tc = tcase_create("separators");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_separators);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_error_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_env_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("say");
	tcase_add_test(tc, test_say);
	tcase_add_test(tc, test_fatal);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(options_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
