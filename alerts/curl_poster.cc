#include <curl/curl.h>  // types and constants only: the functions come from dlsym
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "alerts/http_poster.h"

namespace drift::alerts {
namespace {

// libcurl and what it links (gnutls, krb5, ldap, ssh2, rtmp, nghttp2, ...) are ~4 MiB of resident
// library pages in every process that links them (bench/ANALYSIS.md). Only an exporter with
// `alerting:` configured posts anything, so the library is loaded when the first poster is made.
constexpr const char* kCurlLibrary = "libcurl.so.4";

// The libcurl functions the poster calls, resolved from kCurlLibrary.
struct CurlApi {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

template <typename Fn>
Status Resolve(void* library, const char* name, Fn& fn) {
  dlerror();  // clear a stale error: only dlerror() tells a failed lookup apart
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    const char* why = dlerror();
    return Err("{}: {}", kCurlLibrary, why != nullptr ? why : fmt::format("no symbol {}", name));
  }
  // POSIX guarantees that dlsym's result converts to a function pointer.
  fn = reinterpret_cast<Fn>(symbol);
  return {};
}

Result<CurlApi> LoadCurl() {
  // RTLD_LOCAL: libcurl's symbols (and its dependencies') must not resolve anyone else's.
  void* library = dlopen(kCurlLibrary, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return Err("alerting needs {} (Debian package libcurl4): {}", kCurlLibrary,
               why != nullptr ? why : "dlopen failed");
  }
  CurlApi api;
  for (Status s : {Resolve(library, "curl_global_init", api.global_init),
                   Resolve(library, "curl_easy_init", api.easy_init),
                   Resolve(library, "curl_easy_cleanup", api.easy_cleanup),
                   Resolve(library, "curl_easy_setopt", api.easy_setopt),
                   Resolve(library, "curl_easy_perform", api.easy_perform),
                   Resolve(library, "curl_easy_getinfo", api.easy_getinfo),
                   Resolve(library, "curl_easy_strerror", api.easy_strerror),
                   Resolve(library, "curl_slist_append", api.slist_append),
                   Resolve(library, "curl_slist_free_all", api.slist_free_all)}) {
    if (!s.ok()) return s.error();  // the library stays loaded: the process is about to exit
  }
  // curl_global_init is not thread-safe everywhere: once, before the first handle.
  if (CURLcode code = api.global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    return Err("{}: initialisation failed: {}", kCurlLibrary, api.easy_strerror(code));
  }
  return api;
}

// Loaded once per process (a function-local static is initialised exactly once, thread-safely),
// never unloaded: libcurl keeps global state for the life of the process. A failure is kept too.
const Result<CurlApi>& Curl() {
  static const Result<CurlApi> api = LoadCurl();
  return api;
}

struct ReplyBody {
  std::string* text;
  std::size_t cap;
};

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<ReplyBody*>(user);
  std::size_t n = size * count;
  std::string& text = *body->text;
  if (text.size() < body->cap) text.append(data, std::min(n, body->cap - text.size()));
  return n;  // read (and discard) the rest, so the connection stays usable
}

// libcurl calls this at least once a second during a transfer; non-zero aborts it.
int AbortIfCancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

class CurlPoster final : public HttpPoster {
 public:
  CurlPoster(const CurlApi& api, const AlertmanagerConfig& target) : api_(api), target_(target) {
    curl_ = api_.easy_init();
    if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    headers_ = api_.slist_append(headers_, "Content-Type: application/json");
    // No "Expect: 100-continue" round trip for bodies over 1 KiB.
    headers_ = api_.slist_append(headers_, "Expect:");
    if (!target_.bearer_token.empty()) {
      headers_ = api_.slist_append(
          headers_, fmt::format("Authorization: Bearer {}", target_.bearer_token).c_str());
    }
  }
  ~CurlPoster() override {
    api_.slist_free_all(headers_);
    api_.easy_cleanup(curl_);
  }
  CurlPoster(const CurlPoster&) = delete;
  CurlPoster& operator=(const CurlPoster&) = delete;

  void Cancel() override { cancelled_ = true; }

  Result<HttpReply> Post(std::string_view json, std::chrono::milliseconds timeout) override {
    return Request(json, timeout, kMaxReplyBody);
  }

  // GET without a body, else POST.
  Result<HttpReply> Request(std::optional<std::string_view> json, std::chrono::milliseconds timeout,
                            std::size_t max_reply) {
    const char* method = json ? "POST" : "GET";
    if (cancelled_) return Err("{} {}: cancelled at shutdown", method, target_.endpoint);
    HttpReply reply;
    ReplyBody sink{&reply.body, max_reply};
    char error[CURL_ERROR_SIZE] = {};
    long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
    Set(CURLOPT_URL, target_.endpoint.c_str());
    Set(CURLOPT_PROTOCOLS_STR, "http,https");
    Set(CURLOPT_NOSIGNAL, 1L);  // many threads; no SIGALRM for timeouts
    Set(CURLOPT_FOLLOWLOCATION, 0L);
    Set(CURLOPT_USERAGENT, "drift_exporter");
    Set(CURLOPT_HTTPHEADER, headers_);
    if (json) {
      Set(CURLOPT_POST, 1L);
      Set(CURLOPT_POSTFIELDS, json->data());
      Set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json->size()));
    } else {
      Set(CURLOPT_HTTPGET, 1L);
    }
    Set(CURLOPT_TIMEOUT_MS, timeout_ms);
    Set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    Set(CURLOPT_WRITEFUNCTION, &CollectBody);
    Set(CURLOPT_WRITEDATA, &sink);
    Set(CURLOPT_ERRORBUFFER, +error);
    Set(CURLOPT_NOPROGRESS, 0L);
    Set(CURLOPT_XFERINFOFUNCTION, &AbortIfCancelled);
    Set(CURLOPT_XFERINFODATA, &cancelled_);
    Set(CURLOPT_SSL_VERIFYPEER, 1L);
    Set(CURLOPT_SSL_VERIFYHOST, 2L);
    if (!target_.ca_file.empty()) Set(CURLOPT_CAINFO, target_.ca_file.c_str());
    if (!target_.cert_file.empty()) {
      Set(CURLOPT_SSLCERT, target_.cert_file.c_str());
      Set(CURLOPT_SSLKEY, target_.key_file.c_str());
    }
    if (target_.basic_auth_username) {
      Set(CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      Set(CURLOPT_USERNAME, target_.basic_auth_username->c_str());
      Set(CURLOPT_PASSWORD, target_.basic_auth_password.c_str());
    }
    CURLcode code = api_.easy_perform(curl_);
    Set(CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));  // `error` goes out of scope
    if (code != CURLE_OK) {
      std::string detail = error[0] != '\0' ? fmt::format(": {}", error) : "";
      return Err("{} {}: {}{}", method, target_.endpoint, api_.easy_strerror(code), detail);
    }
    api_.easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

 private:
  // curl_easy_setopt is variadic and reads exactly a long, a curl_off_t or a pointer: an int
  // would be read as garbage. (Called through a pointer, it escapes curl.h's own type checks.)
  template <typename T>
  void Set(CURLoption option, T value) {
    static_assert(std::is_same_v<T, long> || std::is_same_v<T, curl_off_t> || std::is_pointer_v<T>);
    api_.easy_setopt(curl_, option, value);
  }

  const CurlApi& api_;
  AlertmanagerConfig target_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<HttpReply> RequestOnce(const AlertmanagerConfig& target,
                              std::optional<std::string_view> body,
                              std::chrono::milliseconds timeout, std::size_t max_reply) {
  const Result<CurlApi>& api = Curl();
  if (!api.ok()) return api.error();
  CurlPoster client(*api, target);
  return client.Request(body, timeout, max_reply);
}

std::unique_ptr<HttpPoster> MakeCurlPoster(const AlertmanagerConfig& target) {
  const Result<CurlApi>& api = Curl();
  // A start-up error like a bad config: App::Start lets it reach RunCli (exit 2).
  if (!api.ok()) throw std::runtime_error(api.error().message);
  return std::make_unique<CurlPoster>(*api, target);
}

}  // namespace drift::alerts
