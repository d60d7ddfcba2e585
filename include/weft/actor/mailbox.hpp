// Mailbox configuration: unbounded (default) or bounded with an overflow policy.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

enum class OverflowPolicy : std::uint8_t {
  drop_newest,  // the incoming message is dropped (counted)
  drop_oldest,  // the oldest queued message is dropped to make room (counted)
  fail,         // the send fails with Errc::mailbox_full (try_tell reports it)
};

struct MailboxConfig {
  /// 0 = unbounded lock-free MPSC queue.
  std::size_t capacity = 0;
  OverflowPolicy overflow = OverflowPolicy::drop_newest;

  static MailboxConfig unbounded() { return {}; }
  static MailboxConfig bounded(std::size_t capacity, OverflowPolicy policy) {
    return {capacity, policy};
  }
};

}  // namespace weft
