#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "alerts/config.h"
#include "common/result.h"

namespace drift::alerts {

// What an Alertmanager answered.
struct HttpReply {
  long status = 0;
  std::string body;  // at most kMaxReplyBody bytes: enough for an error message
};

inline constexpr std::size_t kMaxReplyBody = 4096;

// The delivery seam: POSTs alert batches to one Alertmanager. Tests inject answers (400, 500,
// timeouts) through a fake; production uses MakeCurlPoster. One instance per Alertmanager, used
// by one thread at a time (not thread-safe, but for Cancel).
class HttpPoster {
 public:
  virtual ~HttpPoster() = default;
  // POSTs `json` to the Alertmanager's /api/v2/alerts within `timeout`. Any HTTP status is a
  // reply; an error means no reply (connection refused, timeout, TLS failure). Never throws.
  virtual Result<HttpReply> Post(std::string_view json, std::chrono::milliseconds timeout) = 0;
  // Makes a Post running on another thread return an error soon (within about a second), and
  // later ones at once: shutdown must not wait out a hanging Alertmanager. Thread-safe.
  virtual void Cancel() = 0;
};

// A libcurl poster for `target`: keeps its connection alive between posts, verifies TLS peers
// (against target.ca_file when set), sends the bearer token or basic auth. Error messages name
// the endpoint and the transport failure, never a secret. The first call loads libcurl.so.4
// (dlopen: a process without alerting never maps it). Throws std::runtime_error, naming the
// library and the loader's reason, only if libcurl cannot be loaded or initialised (start-up).
std::unique_ptr<HttpPoster> MakeCurlPoster(const AlertmanagerConfig& target);

// One request with the same client, for command-line tools (`drift_exporter heal`): GET when
// `body` is nullopt, else a POST of it, to target.endpoint with target's credentials and CA.
// Keeps at most `max_reply` bytes of the answer. An error when libcurl cannot be loaded or no
// answer came. Thread-safe (a client of its own).
Result<HttpReply> RequestOnce(const AlertmanagerConfig& target,
                              std::optional<std::string_view> body,
                              std::chrono::milliseconds timeout, std::size_t max_reply);

}  // namespace drift::alerts
