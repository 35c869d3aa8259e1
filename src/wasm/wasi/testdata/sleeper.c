// Prints "sleeping", then sleeps for an hour in poll_oneoff; stopping the instance must end it.
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("sleeping\n");
  fflush(stdout);
  sleep(3600);
  printf("woke up\n");
  return 0;
}
