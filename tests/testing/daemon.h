// Daemon: a running gatehoused with a config file the test writes and rewrites for reloads,
// with what tests ask of it: its admin port, the ports its apps listen on, its metrics.
#ifndef GATEHOUSE_TESTS_TESTING_DAEMON_H_
#define GATEHOUSE_TESTS_TESTING_DAEMON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse::testing {

class Daemon {
 public:
  // Writes `yaml` to gatehouse.yaml in `tmp` (borrowed: it must outlive the daemon), starts
  // gatehoused on it and waits until it says it is ready.
  Daemon(const TempDir& tmp, const std::string& yaml);

  bool started() const { return started_ && admin_port_ != 0; }
  ChildProcess& process() { return process_; }
  uint16_t admin_port() const { return admin_port_; }

  // The port app `app` listens on (the last one logged: a reload may add listeners).
  uint16_t PortOf(const std::string& app);
  // Every port the daemon logged app `app` starting to listen on, in order.
  std::vector<uint16_t> ListeningPorts(const std::string& app);

  std::string Metrics();
  // Waits until /metrics has `line` (a whole line). Sanitizer builds under load are slow: 30 s
  // is a deadline for a broken daemon, not a wait.
  bool MetricsHave(const std::string& line);

  // Rewrites the config, sends SIGHUP and waits for the reload counter to reach `reloads`.
  bool Reload(const std::string& yaml, int reloads, const char* result = "success");

 private:
  const TempDir& tmp_;
  std::string config_;
  ChildProcess process_;
  bool started_ = false;
  uint16_t admin_port_ = 0;
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_DAEMON_H_
