// Clocks (realtime, monotonic, CPU time, resolutions), sleeping through poll_oneoff, and
// random bytes.
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
  int failures = 0;
  struct timespec real, mono1, mono2, cpu, res;
  clock_gettime(CLOCK_REALTIME, &real);
  // 2020-01-01 .. 2100-01-01
  if (real.tv_sec > 1577836800LL && real.tv_sec < 4102444800LL) {
    printf("ok realtime\n");
  } else {
    printf("FAIL realtime %lld\n", (long long)real.tv_sec);
    ++failures;
  }
  clock_gettime(CLOCK_MONOTONIC, &mono1);
  struct timespec nap = {0, 20 * 1000 * 1000};
  nanosleep(&nap, NULL);
  clock_gettime(CLOCK_MONOTONIC, &mono2);
  if (ns(mono2) - ns(mono1) >= 20 * 1000 * 1000) {
    printf("ok slept at least 20ms\n");
  } else {
    printf("FAIL slept %lld ns\n", ns(mono2) - ns(mono1));
    ++failures;
  }
  volatile unsigned long sum = 0;
  for (unsigned long i = 0; i < 200000; ++i) sum += i;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0 && ns(cpu) > 0 && sum > 0) {
    printf("ok process cputime\n");
  } else {
    printf("FAIL process cputime\n");
    ++failures;
  }
  if (clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(res) > 0 && ns(res) <= 1000000) {
    printf("ok monotonic resolution\n");
  } else {
    printf("FAIL monotonic resolution\n");
    ++failures;
  }
  unsigned char a[32], b[32];
  if (getentropy(a, sizeof a) == 0 && getentropy(b, sizeof b) == 0 && memcmp(a, b, sizeof a) != 0) {
    printf("ok random\n");
  } else {
    printf("FAIL random\n");
    ++failures;
  }
  printf("failures=%d\n", failures);
  return failures;
}
