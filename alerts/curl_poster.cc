#include <curl/curl.h>
#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "alerts/http_poster.h"

namespace drift::alerts {
namespace {

// curl_global_init is not thread-safe everywhere: do it once, before the first handle.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("libcurl initialisation failed");
    }
  });
}

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t n = size * count;
  if (body->size() < kMaxReplyBody) body->append(data, std::min(n, kMaxReplyBody - body->size()));
  return n;  // read (and discard) the rest, so the connection stays usable
}

// libcurl calls this at least once a second during a transfer; non-zero aborts it.
int AbortIfCancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

class CurlPoster final : public HttpPoster {
 public:
  explicit CurlPoster(const AlertmanagerConfig& target) : target_(target) {
    GlobalInit();
    curl_ = curl_easy_init();
    if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    // No "Expect: 100-continue" round trip for bodies over 1 KiB.
    headers_ = curl_slist_append(headers_, "Expect:");
    if (!target_.bearer_token.empty()) {
      headers_ = curl_slist_append(
          headers_, fmt::format("Authorization: Bearer {}", target_.bearer_token).c_str());
    }
  }
  ~CurlPoster() override {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  CurlPoster(const CurlPoster&) = delete;
  CurlPoster& operator=(const CurlPoster&) = delete;

  void Cancel() override { cancelled_ = true; }

  Result<HttpReply> Post(std::string_view json, std::chrono::milliseconds timeout) override {
    if (cancelled_) return Err("POST {}: cancelled at shutdown", target_.endpoint);
    HttpReply reply;
    char error[CURL_ERROR_SIZE] = {};
    long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_URL, target_.endpoint.c_str());
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);  // many threads; no SIGALRM for timeouts
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "drift_exporter");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, json.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json.size()));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, AbortIfCancelled);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &cancelled_);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!target_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, target_.ca_file.c_str());
    if (target_.basic_auth_username) {
      curl_easy_setopt(curl_, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(curl_, CURLOPT_USERNAME, target_.basic_auth_username->c_str());
      curl_easy_setopt(curl_, CURLOPT_PASSWORD, target_.basic_auth_password.c_str());
    }
    CURLcode code = curl_easy_perform(curl_);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);  // `error` goes out of scope
    if (code != CURLE_OK) {
      std::string detail = error[0] != '\0' ? fmt::format(": {}", error) : "";
      return Err("POST {}: {}{}", target_.endpoint, curl_easy_strerror(code), detail);
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

 private:
  AlertmanagerConfig target_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<HttpPoster> MakeCurlPoster(const AlertmanagerConfig& target) {
  return std::make_unique<CurlPoster>(target);
}

}  // namespace drift::alerts
