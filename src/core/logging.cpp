#include "weft/core/logging.hpp"

#include "weft/core/json_escape.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

namespace weft {
namespace {

/// `%*`: the message as the contents of a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

}  // namespace

Result<void> configure_logging(LogStyle style, std::string_view level) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for any name it does not know.
  if (lvl == spdlog::level::off && level != "off") {
    return fail(Errc::invalid_argument,
                "log level: expected trace, debug, info, warn, error or off, got '" +
                    std::string(level) + "'");
  }
  spdlog::set_level(lvl);
  if (style == LogStyle::json) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessage>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  return {};
}

}  // namespace weft
