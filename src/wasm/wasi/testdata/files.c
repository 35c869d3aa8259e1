// File I/O and directories inside the preopen /data, a read-only preopen /ro, and attempts to
// leave the preopen. Prints one line per step; "FAIL" marks an unexpected result.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond, what)                                           \
  do {                                                              \
    if (cond) {                                                     \
      printf("ok %s\n", what);                                      \
    } else {                                                        \
      printf("FAIL %s (errno %d %s)\n", what, errno, strerror(errno)); \
      ++failures;                                                   \
    }                                                               \
  } while (0)

static int cmp(const void* a, const void* b) {
  return strcmp(*(const char* const*)a, *(const char* const*)b);
}

// Opening `path` must fail and must not reveal the host file's content.
static void escape(const char* path) {
  char what[256];
  int fd = open(path, O_RDONLY);
  snprintf(what, sizeof what, "escape refused: %s", path);
  if (fd >= 0) {
    char buf[64] = {0};
    read(fd, buf, sizeof buf - 1);
    printf("FAIL %s (read \"%s\")\n", what, buf);
    ++failures;
    close(fd);
    return;
  }
  printf("ok %s (errno %d)\n", what, errno);
}

int main(void) {
  FILE* f = fopen("/data/notes.txt", "w");
  CHECK(f != NULL, "create /data/notes.txt");
  fputs("line one\nline two\n", f);
  CHECK(fclose(f) == 0, "close");

  struct stat st;
  CHECK(stat("/data/notes.txt", &st) == 0 && st.st_size == 18, "stat size 18");

  char buf[64] = {0};
  int fd = open("/data/notes.txt", O_RDONLY);
  CHECK(fd >= 0, "open for reading");
  CHECK(pread(fd, buf, 8, 9) == 8 && strcmp(buf, "line two") == 0, "pread at offset 9");
  CHECK(lseek(fd, 5, SEEK_SET) == 5, "lseek");
  memset(buf, 0, sizeof buf);
  CHECK(read(fd, buf, 3) == 3 && strcmp(buf, "one") == 0, "read after seek");
  close(fd);

  f = fopen("/data/notes.txt", "a");
  fputs("line three\n", f);
  fclose(f);
  CHECK(stat("/data/notes.txt", &st) == 0 && st.st_size == 29, "append");

  CHECK(mkdir("/data/sub", 0755) == 0, "mkdir /data/sub");
  CHECK(mkdir("/data/sub", 0755) != 0 && errno == EEXIST, "mkdir again: EEXIST");
  f = fopen("/data/sub/a", "w");
  fclose(f);
  f = fopen("/data/sub/b", "w");
  fclose(f);
  CHECK(rename("/data/sub/b", "/data/sub/c") == 0, "rename");
  CHECK(symlink("a", "/data/sub/link") == 0, "symlink");
  char target[16] = {0};
  CHECK(readlink("/data/sub/link", target, sizeof target) == 1 && target[0] == 'a', "readlink");

  DIR* dir = opendir("/data/sub");
  CHECK(dir != NULL, "opendir");
  char* names[16];
  int count = 0;
  struct dirent* entry;
  while (dir && (entry = readdir(dir)) != NULL && count < 16) {
    if (entry->d_name[0] != '.') names[count++] = strdup(entry->d_name);
  }
  if (dir) closedir(dir);
  qsort(names, count, sizeof names[0], cmp);
  printf("readdir:");
  for (int i = 0; i < count; ++i) printf(" %s", names[i]);
  printf("\n");

  CHECK(rmdir("/data/sub") != 0 && errno == ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
  CHECK(unlink("/data/sub/a") == 0 && unlink("/data/sub/c") == 0 && unlink("/data/sub/link") == 0,
        "unlink");
  CHECK(rmdir("/data/sub") == 0, "rmdir");
  CHECK(open("/data/missing", O_RDONLY) < 0 && errno == ENOENT, "missing file: ENOENT");

  memset(buf, 0, sizeof buf);
  fd = open("/ro/given.txt", O_RDONLY);
  CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) > 0, "read /ro/given.txt");
  printf("given=%s\n", buf);
  if (fd >= 0) close(fd);
  CHECK(open("/ro/new.txt", O_WRONLY | O_CREAT, 0644) < 0, "create in read-only preopen refused");
  fd = open("/ro/given.txt", O_WRONLY);
  CHECK(fd < 0 || write(fd, "x", 1) < 0, "write in read-only preopen refused");
  CHECK(mkdir("/ro/dir", 0755) != 0, "mkdir in read-only preopen refused");

  escape("/data/../outside/secret");
  CHECK(mkdir("/data/keep", 0755) == 0, "mkdir /data/keep");
  escape("/data/keep/../../outside/secret");
  escape("/etc/passwd");
  escape("/data/abs-link/secret");
  escape("/data/rel-link/secret");
  escape("/data/root-link/etc/passwd");
  escape("../outside/secret");
  CHECK(symlink("/etc/passwd", "/data/evil") != 0, "absolute symlink refused");
  CHECK(mkdir("/data/../escaped", 0755) != 0, "mkdir outside refused");

  printf("failures=%d\n", failures);
  return failures == 0 ? 0 : 1;
}
