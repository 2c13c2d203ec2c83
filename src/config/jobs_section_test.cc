// The `jobs` section through the public loader: what a file says, and every way it can be wrong.
#include <ostream>
#include <string>

#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::Eq;

constexpr char kPrefix[] = "dev_pki: {dir: /pki}\n";

absl::StatusOr<Config> Parse(const std::string& yaml) {
  return ParseConfig(kPrefix + yaml, "gh.yaml");
}

TEST(JobsSectionTest, ParsesEveryKey) {
  const absl::StatusOr<Config> config = Parse(R"yaml(
jobs:
  listen: 127.0.0.1:7000
  state_dir: /srv/jobs
  cgroup_parent: gatehouse.slice/jobs
  stop_grace: 3s
  max_jobs: 12
  max_output: 64MiB
  max_readers_per_job: 5
  ended_job_retention: 2h
  max_ended_jobs: 7
  default_limits: {cpu: 0.5, memory: 256MiB, io_read_bps: 50MB, io_write_bps: 20MB, pids: 64}
  max_limits: {cpu: 2, memory: 4GiB, pids: 4096}
  run_as: {uid: 1500, gid: 1600}
)yaml");
  ASSERT_THAT(config, IsOk());
  ASSERT_TRUE(config->jobs.has_value());
  const JobsConfig& jobs = *config->jobs;
  EXPECT_EQ(jobs.listen.ToString(), "127.0.0.1:7000");
  EXPECT_EQ(jobs.state_dir, "/srv/jobs");
  EXPECT_EQ(jobs.cgroup_parent, "gatehouse.slice/jobs");
  EXPECT_EQ(jobs.stop_grace, std::chrono::seconds(3));
  EXPECT_EQ(jobs.max_jobs, 12U);
  EXPECT_EQ(jobs.max_output_bytes, uint64_t{64} << 20);
  EXPECT_EQ(jobs.max_readers_per_job, 5U);
  EXPECT_EQ(jobs.ended_job_retention, std::chrono::hours(2));
  EXPECT_EQ(jobs.max_ended_jobs, 7U);
  EXPECT_EQ(jobs.default_limits.cpus, 0.5);
  EXPECT_EQ(jobs.default_limits.memory_bytes, uint64_t{256} << 20);
  EXPECT_EQ(jobs.default_limits.io_read_bytes_per_second, 50'000'000U);
  EXPECT_EQ(jobs.default_limits.io_write_bytes_per_second, 20'000'000U);
  EXPECT_EQ(jobs.default_limits.pids, 64U);
  EXPECT_EQ(jobs.max_limits.cpus, 2.0);
  EXPECT_EQ(jobs.max_limits.memory_bytes, uint64_t{4} << 30);
  EXPECT_EQ(jobs.max_limits.pids, 4096U);
  EXPECT_FALSE(jobs.max_limits.io_read_bytes_per_second.has_value());
  EXPECT_EQ(jobs.run_as_uid, 1500U);
  EXPECT_EQ(jobs.run_as_gid, 1600U);
}

TEST(JobsSectionTest, AnEmptySectionRunsBoundedJobsAsNobody) {
  const absl::StatusOr<Config> config = Parse("jobs: {}\n");
  ASSERT_THAT(config, IsOk());
  ASSERT_TRUE(config->jobs.has_value());
  const JobsConfig& jobs = *config->jobs;
  EXPECT_EQ(jobs.listen.ToString(), "127.0.0.1:7443");
  EXPECT_EQ(jobs.run_as_uid, 65534U);
  EXPECT_EQ(jobs.run_as_gid, 65534U);
  EXPECT_EQ(jobs.default_limits.cpus, 1.0);
  EXPECT_EQ(jobs.default_limits.memory_bytes, uint64_t{512} << 20);
  EXPECT_EQ(jobs.default_limits.pids, 256U);
  EXPECT_FALSE(jobs.default_limits.io_write_bytes_per_second.has_value());
}

TEST(JobsSectionTest, BuiltInDefaultsAreLoweredToTheCeiling) {
  const absl::StatusOr<Config> config =
      Parse("jobs:\n  max_limits: {cpu: 0.25, memory: 100MiB, pids: 10}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->jobs->default_limits.cpus, 0.25);
  EXPECT_EQ(config->jobs->default_limits.memory_bytes, uint64_t{100} << 20);
  EXPECT_EQ(config->jobs->default_limits.pids, 10U);
}

struct BadJobsCase {
  std::string name;
  std::string yaml;
  std::string error;
};

std::ostream& operator<<(std::ostream& out, const BadJobsCase& c) { return out << c.name; }

class BadJobsSectionTest : public ::testing::TestWithParam<BadJobsCase> {};

TEST_P(BadJobsSectionTest, IsRefusedWithWhereAndWhy) {
  EXPECT_THAT(Parse(GetParam().yaml),
              StatusIs(absl::StatusCode::kInvalidArgument, Eq(GetParam().error)));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadJobsSectionTest,
    ::testing::Values(
        BadJobsCase{"UnknownKey", "jobs: {max_job: 3}\n",
                    R"(gh.yaml:2:8: unknown key "max_job" in jobs; expected one of: listen, )"
                    "state_dir, cgroup_parent, stop_grace, max_jobs, max_output, "
                    "max_readers_per_job, ended_job_retention, max_ended_jobs, default_limits, "
                    "max_limits, run_as"},
        BadJobsCase{"RootUid", "jobs: {run_as: {uid: 0, gid: 5}}\n",
                    "gh.yaml:2:22: jobs.run_as.uid: expected a whole number from 1 to "
                    "4294967294, got \"0\""},
        BadJobsCase{"UidWithoutGid", "jobs: {run_as: {uid: 7}}\n",
                    "gh.yaml:2:16: jobs.run_as: run_as needs both uid and gid"},
        BadJobsCase{"DefaultAboveCeiling",
                    "jobs: {default_limits: {memory: 2GiB}, max_limits: {memory: 1GiB}}\n",
                    "gh.yaml:2:7: jobs: a default_limits value is above its max_limits ceiling"},
        BadJobsCase{"ZeroCpu", "jobs: {default_limits: {cpu: 0}}\n",
                    "gh.yaml:2:30: jobs.default_limits.cpu: cpu must be above 0"},
        BadJobsCase{"ZeroMemory", "jobs: {max_limits: {memory: 0}}\n",
                    "gh.yaml:2:29: jobs.max_limits.memory: expected a size above 0 such as "
                    "512MiB or 1GB, got \"0\""},
        BadJobsCase{"AbsoluteCgroupParent", "jobs: {cgroup_parent: /sys/fs/cgroup}\n",
                    "gh.yaml:2:23: jobs.cgroup_parent: must be a relative path without \"..\""},
        BadJobsCase{"ZeroMaxJobs", "jobs: {max_jobs: 0}\n",
                    "gh.yaml:2:18: jobs.max_jobs: expected a whole number from 1 to 100000, "
                    "got \"0\""},
        BadJobsCase{"EmptyStateDir", "jobs: {state_dir: \"\"}\n",
                    "gh.yaml:2:19: jobs.state_dir: must not be empty"}),
    [](const ::testing::TestParamInfo<BadJobsCase>& case_info) { return case_info.param.name; });

}  // namespace
}  // namespace gatehouse::config
