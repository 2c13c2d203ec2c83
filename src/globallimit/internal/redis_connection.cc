#include "globallimit/internal/redis_connection.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace gatehouse::globallimit::internal {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

timeval ToTimeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(duration.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(duration.count() % 1000 * 1000);
  return tv;
}

RedisValue Copy(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::kString;
      value.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::kStatus;
      value.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      value.type = RedisValue::Type::kError;
      value.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::kInteger;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::kArray;
      value.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) value.elements.push_back(Copy(*reply.element[i]));
      break;
    default:
      value.type = RedisValue::Type::kNil;
      break;
  }
  return value;
}

// Only the command name goes into messages: arguments may hold a password or an identity.
std::string CommandName(const std::vector<std::string>& argv) {
  return argv.empty() ? std::string("(empty command)") : argv.front();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisOptions& options) {
  const std::string address = absl::StrCat(options.host, ":", options.port);
  const timeval timeout = ToTimeval(options.timeout);
  ContextPtr context(redisConnectWithTimeout(options.host.c_str(), options.port, timeout));
  if (context == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("redis ", address, ": connect: cannot allocate a context"));
  }
  if (context->err != 0) {
    return absl::UnavailableError(absl::StrCat("redis ", address, ": connect: ", context->errstr));
  }
  if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
    return absl::UnavailableError(
        absl::StrCat("redis ", address, ": set timeout: ", context->errstr));
  }
  // The constructor is private, so std::make_unique cannot reach it.
  std::unique_ptr<RedisConnection> connection(new RedisConnection(context.release(), address));
  if (!options.password.empty()) {
    GH_ASSIGN_OR_RETURN(RedisValue reply, connection->Command({"AUTH", options.password}));
    if (reply.is_error()) {
      return absl::UnauthenticatedError(absl::StrCat("redis ", address, ": AUTH: ", reply.str));
    }
  }
  return connection;
}

RedisConnection::RedisConnection(redisContext* context, std::string address)
    : context_(context), address_(std::move(address)) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

absl::Status RedisConnection::IoError(absl::string_view command) {
  broken_ = true;
  const char* detail = context_->err != 0 ? context_->errstr : "connection broken";
  return absl::UnavailableError(absl::StrCat("redis ", address_, ": ", command, ": ", detail));
}

absl::StatusOr<RedisValue> RedisConnection::Command(const std::vector<std::string>& argv) {
  GH_ASSIGN_OR_RETURN(std::vector<RedisValue> replies, Pipeline({argv}));
  return std::move(replies.front());
}

absl::StatusOr<std::vector<RedisValue>> RedisConnection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (broken_) return IoError(commands.empty() ? "pipeline" : CommandName(commands.front()));
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const std::vector<std::string>& argv : commands) {
    args.clear();
    lengths.clear();
    for (const std::string& arg : argv) {
      args.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    // Appending only fills hiredis' output buffer; it fails only when out of memory.
    if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.data(),
                               lengths.data()) != REDIS_OK) {
      return IoError(CommandName(argv));
    }
  }
  std::vector<RedisValue> replies;
  replies.reserve(commands.size());
  for (const std::vector<std::string>& argv : commands) {
    void* raw = nullptr;
    // The first call writes the whole buffer, then every call reads one reply; each read and
    // write is bounded by the timeout set at connect.
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      ReplyPtr discard(static_cast<redisReply*>(raw));
      return IoError(CommandName(argv));
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    replies.push_back(Copy(*reply));
  }
  return replies;
}

}  // namespace gatehouse::globallimit::internal
