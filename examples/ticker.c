// The demo's WASM service: a WASI preview 1 program (built with clang --target=wasm32-wasi by
// examples/demo.sh) that prints a line every 5 seconds, naming itself from $TICKER_NAME.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  const char* name = getenv("TICKER_NAME");
  if (name == NULL) name = "ticker";
  for (unsigned long n = 1;; ++n) {
    printf("%s: tick %lu\n", name, n);
    fflush(stdout);
    sleep(5);
  }
}
