// A real mosquitto broker for tests: on a free loopback port, with a generated config in a
// temp dir, started and stopped by the test (and killed by the destructor).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "../temp_dir.hpp"

namespace weft::test {

class MosquittoProcess {
 public:
  struct Options {
    /// Keep sessions and queued messages across a stop()/start() in the temp dir.
    bool persistence = false;
    /// Appended to the config, e.g. "max_inflight_messages 100".
    std::string extra_config;
  };

  explicit MosquittoProcess(Options options) : options_(std::move(options)) {
    port_ = free_port();
    write_config();
  }
  MosquittoProcess() : MosquittoProcess(Options{}) {}
  ~MosquittoProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);  // a paused broker cannot die
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  MosquittoProcess(const MosquittoProcess&) = delete;
  MosquittoProcess& operator=(const MosquittoProcess&) = delete;

  /// Starts the broker and waits (up to 10 s) until its port accepts connections. On failure
  /// returns false and error() says why (with the broker's log).
  bool start() {
    if (pid_ > 0) return true;
    pid_ = ::fork();
    if (pid_ == 0) {
      // Dies with the test process even when that is killed before its destructors run.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() == 1) ::_exit(126);  // the parent is already gone
      const int log = ::open(dir_.sub("stdout.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      const std::string conf = dir_.sub("mosquitto.conf");
      ::execlp("mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid_ < 0) {
      error_ = "fork failed";
      pid_ = -1;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "mosquitto exited at start (status " + std::to_string(status) + "): " + log();
        return false;
      }
      if (accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling with a deadline
    }
    error_ = "mosquitto did not accept on port " + std::to_string(port_) + ": " + log();
    return false;
  }

  /// SIGTERM and wait: a persistent broker saves its sessions first.
  void stop() { signal_and_wait(SIGTERM); }
  /// SIGKILL and wait: nothing saved.
  void kill() { signal_and_wait(SIGKILL); }
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::string log() const {
    std::ifstream in(dir_.sub("stdout.log"));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  void write_config() {
    std::ofstream conf(dir_.sub("mosquitto.conf"));
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         // Run as whoever runs the test (as root mosquitto would switch to user mosquitto
         // and could not write its persistence file into our temp dir).
         << "user " << ::getpwuid(::getuid())->pw_name << "\n"
         << "set_tcp_nodelay true\n"
         << "log_dest file " << dir_.sub("mosquitto.log") << "\n"
         << "log_type error\nlog_type warning\nlog_type notice\n";
    if (options_.persistence) {
      conf << "persistence true\n"
           << "persistence_location " << dir_.path() << "/\n"
           << "autosave_interval 0\n";
    } else {
      conf << "persistence false\n";
    }
    conf << options_.extra_config << "\n";
  }

  bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  Options options_;
  TempDir dir_{"weft-mosquitto"};
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace weft::test
