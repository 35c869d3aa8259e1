// zlayer-monitor: the per-container monitor process (runtime/linux/monitor.h). Started by the
// agent through start_monitor(); not meant to be run by hand.
#include "runtime/linux/monitor.h"

int main(int argc, char** argv) { return zlayer::runtime::linux::monitor_main(argc, argv); }
