#include "weft/core/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <sstream>

namespace weft {
namespace {

TEST(Logging, JsonLinesEscapeTheMessageAndParse) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "json-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::register_logger(logger);
  ASSERT_TRUE(configure_logging(LogStyle::json, "info"));
  logger->info("a \"quoted\" word,\na second line\tand a \x01 control");
  logger->debug("below the level: not written");
  logger->flush();
  spdlog::drop("json-test");
  ASSERT_TRUE(configure_logging(LogStyle::text, "info"));

  std::istringstream lines(out.str());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["logger"], "json-test");
  EXPECT_EQ(j["msg"], "a \"quoted\" word,\na second line\tand a \x01 control");
  EXPECT_EQ(j["ts"].get<std::string>().back(), 'Z');
  EXPECT_FALSE(std::getline(lines, line)) << "the debug line was written: " << line;
}

TEST(Logging, AnUnknownLevelIsAnError) {
  auto r = configure_logging(LogStyle::text, "loud");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("loud"), std::string::npos);
}

}  // namespace
}  // namespace weft
