// Command-line parsing shared by the gatehouse programs, so that they agree on exit codes:
// 0 after --help, kExitUsage (2) for a command line they cannot use, kExitFailure (1) when the
// work itself fails.
#ifndef GATEHOUSE_APPS_COMMON_COMMAND_LINE_H_
#define GATEHOUSE_APPS_COMMON_COMMAND_LINE_H_

#include <optional>

#include "CLI/CLI.hpp"

namespace gatehouse::apps {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Parses argv into `app`. Empty when the program should go on; otherwise the code to exit with,
// after CLI11 has printed the help or the error.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

}  // namespace gatehouse::apps

#endif  // GATEHOUSE_APPS_COMMON_COMMAND_LINE_H_
