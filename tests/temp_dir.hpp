// A fresh directory under /tmp for one test, removed with everything in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace weft::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "weft-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  /// A path inside the directory (not created).
  [[nodiscard]] std::string sub(const std::string& name) const { return path_ + "/" + name; }
  /// Where a test's database goes.
  [[nodiscard]] std::string db() const { return sub("db"); }

 private:
  std::string path_;
};

}  // namespace weft::test
