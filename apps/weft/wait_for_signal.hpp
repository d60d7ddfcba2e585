// SIGINT/SIGTERM handling for the long-running commands: the signals are blocked in every
// thread (call block_stop_signals() before starting any) and taken synchronously here.
#pragma once

namespace weft::app {

/// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts afterwards.
void block_stop_signals();
/// Waits for SIGINT or SIGTERM (returns its number) or, when `timeout_s` > 0, that many
/// seconds (returns 0).
int wait_for_stop_signal(double timeout_s);

}  // namespace weft::app
