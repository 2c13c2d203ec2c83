// The job that runs a launch app's server, from its configuration.
#ifndef GATEHOUSE_LBSERVER_LAUNCH_SPEC_H_
#define GATEHOUSE_LBSERVER_LAUNCH_SPEC_H_

#include <string>

#include "config/config.h"
#include "jobs/job.h"
#include "jobs/limits.h"

namespace gatehouse::lbserver {

// The job worker's limits for configured ones (unset stays unlimited).
jobs::Limits ToJobLimits(const config::JobLimitsConfig& limits);

// command[0] as the executable (looked up in PATH when it has no '/'), the rest as its
// arguments; PATH=/usr/local/bin:/usr/bin:/bin unless `env` sets PATH; owner "app:<app>", the
// name admins see in `gatehouse ls`. Runs as the job worker's default user.
jobs::JobSpec LaunchJobSpec(const std::string& app, const config::LaunchConfig& launch);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_LAUNCH_SPEC_H_
