#include "wait_for_signal.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cmath>
#include <ctime>

namespace weft::app {
namespace {
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal(double timeout_s) {
  const sigset_t set = stop_signals();
  for (;;) {
    int sig = 0;
    if (timeout_s > 0) {
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(std::floor(timeout_s));
      ts.tv_nsec = static_cast<long>((timeout_s - std::floor(timeout_s)) * 1e9);
      sig = sigtimedwait(&set, nullptr, &ts);
      if (sig < 0 && errno == EAGAIN) return 0;
    } else {
      sig = sigwaitinfo(&set, nullptr);
    }
    if (sig > 0) return sig;
    // EINTR: another signal; wait again (the remaining timeout restarts, a bounded overrun).
  }
}

}  // namespace weft::app
