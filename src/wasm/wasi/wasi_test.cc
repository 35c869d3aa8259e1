#include "wasm/wasi/wasi.h"
