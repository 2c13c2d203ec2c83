#include "testing/daemon.h"

#include <chrono>
#include <csignal>
#include <regex>

#include "absl/strings/str_cat.h"
#include "testing/http_get.h"
#include "testing/wait_for.h"

namespace gatehouse::testing {

Daemon::Daemon(const TempDir& tmp, const std::string& yaml)
    : tmp_(tmp),
      config_(tmp.WriteFile("gatehouse.yaml", yaml)),
      process_({BuiltProgram("gatehoused"), "--config", config_}) {
  started_ = process_.WaitForOutput("ready", std::chrono::seconds(20));
  static const std::regex kAdmin(R"(admin endpoint listening on 127\.0\.0\.1:(\d+))");
  std::smatch match;
  const std::string log = process_.output();
  if (std::regex_search(log, match, kAdmin)) {
    admin_port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
  }
}

uint16_t Daemon::PortOf(const std::string& app) {
  const std::vector<uint16_t> ports = ListeningPorts(app);
  return ports.empty() ? 0 : ports.back();
}

std::vector<uint16_t> Daemon::ListeningPorts(const std::string& app) {
  const std::regex listening("lb app " + app + R"( listening on [0-9.]+:(\d+))");
  std::vector<uint16_t> ports;
  const std::string log = process_.output();
  for (auto it = std::sregex_iterator(log.begin(), log.end(), listening);
       it != std::sregex_iterator(); ++it) {
    ports.push_back(static_cast<uint16_t>(std::stoi((*it)[1].str())));
  }
  return ports;
}

std::string Daemon::Metrics() { return HttpGet(admin_port_, "/metrics").body; }

bool Daemon::MetricsHave(const std::string& line) {
  return WaitFor([&] { return Metrics().find(line + "\n") != std::string::npos; },
                 std::chrono::seconds(30));
}

bool Daemon::Reload(const std::string& yaml, int reloads, const char* result) {
  tmp_.WriteFile("gatehouse.yaml", yaml);
  process_.Signal(SIGHUP);
  return MetricsHave(
      absl::StrCat("gatehouse_config_reloads_total{result=\"", result, "\"} ", reloads));
}

}  // namespace gatehouse::testing
