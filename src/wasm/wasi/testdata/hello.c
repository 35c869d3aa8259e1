// args, environ, stdout/stderr, stdin and the exit status (argv[1] = code; "deep" exits from a
// nested call).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char** environ;

static int exit_deep(int depth, int code) {
  if (depth == 0) exit(code);
  return exit_deep(depth - 1, code) + 1;  // not a tail call
}

int main(int argc, char** argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
  const char* greeting = getenv("GREETING");
  printf("GREETING=%s\n", greeting ? greeting : "(unset)");
  int env_count = 0;
  for (char** e = environ; *e; ++e) ++env_count;
  printf("environ=%d\n", env_count);
  char line[256];
  if (fgets(line, sizeof line, stdin)) {
    for (char* c = line; *c; ++c) *c = (char)toupper((unsigned char)*c);
    printf("stdin=%s", line);
  } else {
    printf("stdin=(empty)\n");
  }
  fprintf(stderr, "to stderr\n");
  fflush(stdout);
  if (argc > 2 && strcmp(argv[2], "deep") == 0) return exit_deep(200, atoi(argv[1]));
  return argc > 1 ? atoi(argv[1]) : 0;
}
