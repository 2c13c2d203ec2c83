// The exit codes of the gatehouse CLI (RFD 0001, section 6): those every gatehouse program shares
// (apps/common/command_line.h) and the two only the job commands need. `run --follow` also exits
// with the job's own code (see ExitCodeOf in gatehouse/job_format.h).
#ifndef GATEHOUSE_APPS_GATEHOUSE_EXIT_CODES_H_
#define GATEHOUSE_APPS_GATEHOUSE_EXIT_CODES_H_

#include "common/command_line.h"

namespace gatehouse::cli {

using apps::kExitFailure;  // 1: the job service refused or failed the request
using apps::kExitUsage;    // 2: a command line we cannot use

// The job service could not be reached or would not accept us: no CA or client certificate, an
// unreadable PEM file, a refused connection, a failed TLS handshake, no answer in time, or an
// output stream that broke mid-way.
inline constexpr int kExitConnection = 3;

// Ctrl-C during `logs` or `run --follow`: what a shell reports for a process SIGINT killed
// (128 + 2), though we exit normally after cancelling the stream.
inline constexpr int kExitInterrupted = 130;

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_EXIT_CODES_H_
