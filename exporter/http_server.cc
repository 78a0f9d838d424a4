#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/tcp.h>  // struct tcp_info with tcpi_bytes_received (glibc's lacks it)
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <exception>
#include <list>
#include <map>
#include <thread>

#include "alerts/config.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "exporter/basic_auth.h"
#include "exporter/tls_credentials.h"
#include "exporter/web_config.h"

namespace drift::exporter {
namespace {

using std::chrono::steady_clock;

// How often the event loop looks for requests past request_timeout (the bound is met within
// this much) and for changed certificate files.
constexpr auto kSweepEvery = std::chrono::seconds(1);
constexpr auto kCertificateCheckEvery = std::chrono::seconds(5);
// Repeated events of one kind (connections refused, timed out) make one log line per this.
constexpr auto kLogSummaryEvery = std::chrono::seconds(60);

bool ValidPort(std::string_view p, int* port) {
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), *port);
  return ec == std::errc() && end == p.data() + p.size() && *port >= 0 && *port <= 65535;
}

// Bytes the kernel has received on a TCP socket so far (what tells an idle keep-alive
// connection from one sending a request); 0 if unknown.
std::uint64_t BytesReceived(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_bytes_received;
}

// The peer's address, as a key (IPv4 in IPv6-mapped form) and as text.
using PeerKey = std::array<std::uint8_t, 16>;
PeerKey KeyOf(const sockaddr* addr) {
  PeerKey key{};
  if (addr == nullptr) return key;
  if (addr->sa_family == AF_INET) {
    key[10] = key[11] = 0xff;
    std::memcpy(&key[12], &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    std::memcpy(key.data(), &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
  }
  return key;
}
std::string TextOf(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr == nullptr) return "";
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text, sizeof text);
  }
  return text;
}

// While MHD_start_daemon runs on this thread, what libmicrohttpd logs is collected here: it
// says why the start failed ("Failed to bind to port 9968: Address already in use").
thread_local std::vector<std::string>* start_messages = nullptr;

void LogMessage(void*, const char* format, va_list ap) {
  char text[512];
  std::vsnprintf(text, sizeof text, format, ap);
  std::string_view message = Trim(text);
  if (start_messages != nullptr) {
    start_messages->emplace_back(message);
  } else {
    // What a client did wrong (a bad TLS record, a malformed request) is its business: debug.
    log::Debug("http server", {{"msg", message}});
  }
}

// Counts repeated events and logs them at most once per kLogSummaryEvery (a flood of refused
// connections must not become a flood of log lines). Loop thread only.
class EventSummary {
 public:
  explicit EventSummary(std::string message) : message_(std::move(message)) {}
  void Add(steady_clock::time_point now, std::string_view detail = {}) {
    ++count_;
    if (detail_.empty()) detail_ = detail;
    if (now - last_ < kLogSummaryEvery) return;
    log::Warn(message_, {{"count", count_}, {"example", detail_}});
    last_ = now;
    count_ = 0;
    detail_.clear();
  }

 private:
  const std::string message_;
  steady_clock::time_point last_{};
  std::uint64_t count_ = 0;
  std::string detail_;
};

// Threads for handlers that may block, started when every one is busy, up to `max`.
class WorkerPool {
 public:
  explicit WorkerPool(unsigned max) : max_(std::max(1u, max)) {}
  ~WorkerPool() { Stop(); }

  void Post(std::function<void()> job) DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    jobs_.push_back(std::move(job));
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { Run(); });
    } else {
      cv_.NotifyOne();
    }
  }
  // Runs what is queued, then joins the threads.
  void Stop() DRIFT_EXCLUDES(mu_) {
    std::vector<std::thread> threads;
    {
      MutexLock lock(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.NotifyAll();
    for (std::thread& t : threads) t.join();
  }

 private:
  void Run() DRIFT_EXCLUDES(mu_) {
    mu_.Lock();
    for (;;) {
      while (jobs_.empty() && !stopping_) {
        ++idle_;
        cv_.Wait(mu_);
        --idle_;
      }
      if (jobs_.empty()) break;
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      mu_.Unlock();
      job();
      mu_.Lock();
    }
    mu_.Unlock();
  }

  const unsigned max_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> jobs_ DRIFT_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ DRIFT_GUARDED_BY(mu_);
  std::size_t idle_ DRIFT_GUARDED_BY(mu_) = 0;
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
};

// A response body kept alive until libmicrohttpd has sent it.
struct BodyHolder {
  std::shared_ptr<const std::string> shared;
  std::string own;
};
void FreeBody(void* holder) { delete static_cast<BodyHolder*>(holder); }

HttpResponse Unauthorized() {
  HttpResponse r = HttpResponse::Text(401, "Unauthorized");
  r.headers.emplace_back("WWW-Authenticate", "Basic");
  return r;
}

bool IsRefusal(int status) {
  return status == 401 || status == 403 || status == 404 || status == 405 || status == 411 ||
         status == 413;
}

}  // namespace

bool Identity::AnyOf(const std::vector<std::string>& names) const {
  auto named = [&](const std::string& n) {
    return !n.empty() && std::find(names.begin(), names.end(), n) != names.end();
  };
  if (named(user)) return true;
  return certificate != nullptr &&
         std::any_of(certificate->sans.begin(), certificate->sans.end(), named);
}

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  return r;
}

RouteTable::RouteTable(std::vector<Route> routes)
    : routes_(std::make_shared<const std::vector<Route>>(std::move(routes))) {}

std::shared_ptr<const std::vector<Route>> RouteTable::Get() const {
  return routes_.load(std::memory_order_acquire);
}

Status RouteTable::Set(std::vector<Route> routes) {
  for (auto a = routes.begin(); a != routes.end(); ++a) {
    for (auto b = a + 1; b != routes.end(); ++b) {
      if (a->path == b->path) return Err("two routes for {}", a->path);
    }
  }
  routes_.store(std::make_shared<const std::vector<Route>>(std::move(routes)),
                std::memory_order_release);
  return {};
}

const Route* FindRoute(const std::vector<Route>& routes, std::string_view path) {
  for (const Route& r : routes) {
    bool prefix = r.path.size() > 1 && r.path.back() == '/';
    if (prefix ? path.starts_with(r.path) && path.size() > r.path.size() : path == r.path) {
      return &r;
    }
  }
  return nullptr;
}

std::optional<HttpResponse> RefuseRequest(const Route* route, const HttpRequest& req) {
  if (route == nullptr) {
    return HttpResponse::Text(404, fmt::format("404 page not found: {}", req.path));
  }
  std::string_view method = req.method == "HEAD" ? std::string_view("GET") : req.method;
  if (std::find(route->methods.begin(), route->methods.end(), method) == route->methods.end()) {
    std::string allow;
    for (const std::string& m : route->methods) {
      allow += (allow.empty() ? "" : ", ") + m;
      if (m == "GET") allow += ", HEAD";  // served for every GET route
    }
    HttpResponse resp =
        HttpResponse::Text(405, fmt::format("method {} not allowed; use {}", req.method, allow));
    resp.headers.emplace_back("Allow", allow);
    return resp;
  }
  if (!route->allowed.empty() && !req.identity.AnyOf(route->allowed)) {
    return HttpResponse::Text(
        403, fmt::format("{} may not call {}",
                         req.identity.user.empty() ? std::string("this client")
                                                   : fmt::format("user {:?}", req.identity.user),
                         route->path));
  }
  return std::nullopt;
}

HttpResponse RouteRequest(const std::vector<Route>& routes, const HttpRequest& req) {
  const Route* route = FindRoute(routes, req.path);
  if (std::optional<HttpResponse> refused = RefuseRequest(route, req)) return std::move(*refused);
  return route->handler(req);
}

Result<ListenAddress> ParseListenAddress(std::string_view address) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return Err("invalid listen address {:?}; expected host:port, [ipv6]:port or :port", address);
  }
  std::string_view host = address.substr(0, colon);
  ListenAddress out;
  if (!ValidPort(address.substr(colon + 1), &out.port)) {
    return Err("invalid port in listen address {:?}; expected 0 to 65535", address);
  }
  if (host.empty()) return out;
  if (host.front() == '[') {
    in6_addr a6{};
    std::string inner(host.substr(1, host.size() - 2));
    if (host.back() != ']' || inet_pton(AF_INET6, inner.c_str(), &a6) != 1) {
      return Err("invalid listen address {:?}", address);
    }
    out.host = inner;
    return out;
  }
  if (host == "localhost") host = "127.0.0.1";
  in_addr a4{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1) {
    return Err("invalid listen address {:?}; use an IP address, not a host name", address);
  }
  out.host = host;
  return out;
}

Result<std::string> ExternalUrl(std::string_view flag, std::string_view listen_address,
                                std::string_view hostname, bool tls) {
  if (!flag.empty()) {
    // Credentials are refused here: CheckHttpUrl's own message is about Alertmanager secrets.
    std::size_t scheme = flag.find("://");
    std::string_view authority = flag.substr(scheme == std::string_view::npos ? 0 : scheme + 3);
    if (authority.substr(0, authority.find('/')).find('@') != std::string_view::npos) {
      return Err("--web.external-url must not contain credentials");
    }
    return alerts::CheckHttpUrl(flag, "--web.external-url");
  }
  Result<ListenAddress> parsed = ParseListenAddress(listen_address);
  if (!parsed.ok()) return parsed.error();
  std::size_t colon = listen_address.rfind(':');
  std::string_view host = listen_address.substr(0, colon);
  std::string_view port = listen_address.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = hostname;
  return fmt::format("{}://{}:{}", tls ? "https" : "http", host, port);
}

class HttpServer::Impl {
 public:
  Impl(const HttpOptions& options, std::shared_ptr<const RouteTable> routes,
       std::shared_ptr<const WebConfig> web, std::shared_ptr<HttpServerMetrics> metrics)
      : options_(options),
        routes_(std::move(routes)),
        web_(std::move(web)),
        metrics_(std::move(metrics)),
        workers_(options.max_workers) {}
  ~Impl();

  Status Start();
  int port() const { return port_; }

 private:
  // One TCP connection: libmicrohttpd's socket context. Loop thread only.
  struct Connection {
    Impl* server = nullptr;
    int fd = -1;
    PeerKey peer{};
    std::string peer_text;
    // kReceiving: from the first byte of a request (or the accept) until it is read whole;
    // kHandling: until its response is sent; kIdle: between requests.
    enum class Phase { kReceiving, kHandling, kIdle } phase = Phase::kReceiving;
    steady_clock::time_point receiving_since;
    std::uint64_t idle_bytes = 0;  // BytesReceived when it went idle
    bool identity_known = false;
    std::shared_ptr<const ClientCertificate> certificate;
    std::list<Connection*>::iterator position;
  };
  // One request: libmicrohttpd's con_cls, from its headers to its completion.
  struct Request {
    HttpRequest req;
    std::shared_ptr<const std::vector<Route>> routes;  // `route` points into it
    const Route* route = nullptr;
    std::size_t max_body = 0;
    bool too_large = false;
    bool verify_password = false;
    std::optional<HttpResponse> response;  // from a worker, queued when resumed
  };

  static Connection* ConnectionOf(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? static_cast<Connection*>(info->socket_context) : nullptr;
  }
  // The connection of a TLS session (libmicrohttpd keeps its connection in the session).
  static Connection* ConnectionOf(gnutls_session_t session) {
    auto* c = static_cast<MHD_Connection*>(gnutls_session_get_ptr(session));
    return c != nullptr ? ConnectionOf(c) : nullptr;
  }

  // libmicrohttpd's callbacks.
  static MHD_Result OnAccept(void* self, const sockaddr* addr, socklen_t len);
  static void OnConnection(void* self, MHD_Connection* c, void** socket_context,
                           MHD_ConnectionNotificationCode code);
  static MHD_Result OnRequest(void* self, MHD_Connection* c, const char* url, const char* method,
                              const char* version, const char* upload_data,
                              size_t* upload_data_size, void** con_cls);
  static void OnCompleted(void* self, MHD_Connection* c, void** con_cls,
                          MHD_RequestTerminationCode code);
  static int OnCertificate(gnutls_session_t session, const gnutls_datum_t* req_ca_dn, int nreqs,
                           const gnutls_pk_algorithm_t* pk_algos, int pk_algos_length,
                           gnutls_pcert_st** pcert, unsigned int* pcert_length,
                           gnutls_privkey_t* pkey);
  static int OnClientCertificate(gnutls_session_t session);

  MHD_Result Begin(MHD_Connection* c, Connection* conn, Request& r, const char* url,
                   const char* method);
  MHD_Result Finish(MHD_Connection* c, Connection* conn, Request& r);
  // On a worker: authenticates by password if need be, then routes.
  HttpResponse Handle(Request& r);
  MHD_Result Queue(MHD_Connection* c, HttpResponse resp);
  void Loop();
  // Makes the loop go round (a resumed connection, a stop). Thread-safe.
  void Wake() {
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  void Sweep(steady_clock::time_point now);
  void CheckCertificate();

  const HttpOptions options_;
  const std::shared_ptr<const RouteTable> routes_;
  const std::shared_ptr<const WebConfig> web_;
  const std::shared_ptr<HttpServerMetrics> metrics_;
  std::unique_ptr<TlsCredentials> tls_;
  std::unique_ptr<BasicAuth> basic_auth_;
  std::string priority_;   // GnuTLS priority string; libmicrohttpd keeps the pointer
  std::string client_ca_;  // PEM; likewise
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread loop_;
  WorkerPool workers_;
  std::atomic<bool> certificate_check_pending_{false};

  // Loop thread only.
  std::list<Connection*> connections_;
  std::map<PeerKey, unsigned> per_peer_;
  steady_clock::time_point next_sweep_{};
  steady_clock::time_point next_certificate_check_{};
  EventSummary refused_log_{"refused connections over the connection limits"};
  EventSummary timeout_log_{"closed connections that took too long to send a request"};
  EventSummary certificate_log_{"refused TLS clients for their certificate"};
};

Status HttpServer::Impl::Start() {
  Result<ListenAddress> address = ParseListenAddress(options_.listen_address);
  if (!address.ok()) return address.error();
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  sockaddr_storage sa{};
  bool any = address->host.empty();
  if (any) {
    flags |= MHD_USE_DUAL_STACK;
  } else if (address->host.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&sa);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<std::uint16_t>(address->port));
    inet_pton(AF_INET6, address->host.c_str(), &s6->sin6_addr);
    flags |= MHD_USE_IPv6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&sa);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<std::uint16_t>(address->port));
    inet_pton(AF_INET, address->host.c_str(), &s4->sin_addr);
  }
  if (web_ != nullptr && !web_->basic_auth_users.empty()) {
    basic_auth_ = std::make_unique<BasicAuth>(web_->basic_auth_users);
  }
  std::vector<MHD_OptionItem> opts = {
      // First, so that libmicrohttpd logs nothing to stderr itself.
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&LogMessage), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
       static_cast<intptr_t>(std::max<std::size_t>(2 * options_.max_header_bytes, 8192)), nullptr},
      // A backstop: OnAccept refuses past max_connections first, and counts it.
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(options_.max_connections + 1), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT,
       static_cast<intptr_t>(std::max<long>(1, options_.idle_timeout.count())), nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Impl::OnConnection), this},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::OnCompleted), this},
      // Requests that bend HTTP/1.1's grammar are refused (400), not guessed at.
      {MHD_OPTION_STRICT_FOR_CLIENT, 1, nullptr},
  };
  if (!any) opts.push_back({MHD_OPTION_SOCK_ADDR, 0, &sa});
  if (web_ != nullptr && web_->tls) {
    Result<std::unique_ptr<TlsCredentials>> tls = TlsCredentials::Load(*web_->tls);
    if (!tls.ok()) return tls.error();
    tls_ = std::move(*tls);
    if (metrics_) metrics_->CertificateReloaded(true, tls_->not_after());
    flags |= MHD_USE_TLS;
    priority_ = GnutlsPriority(*web_->tls);
    opts.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, priority_.data()});
    opts.push_back(
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, reinterpret_cast<void*>(&Impl::OnCertificate)});
    if (!web_->tls->client_ca_file.empty()) {
      Result<std::string> ca = LoadClientCa(web_->tls->client_ca_file);
      if (!ca.ok()) return ca.error();
      client_ca_ = std::move(*ca);
      opts.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, client_ca_.data()});
    }
  }
  opts.push_back({MHD_OPTION_END, 0, nullptr});

  std::vector<std::string> messages;
  start_messages = &messages;
  daemon_ =
      MHD_start_daemon(flags, any ? static_cast<std::uint16_t>(address->port) : 0, &Impl::OnAccept,
                       this, &Impl::OnRequest, this, MHD_OPTION_ARRAY, opts.data(), MHD_OPTION_END);
  start_messages = nullptr;
  if (daemon_ == nullptr) {
    std::string why;
    for (const std::string& m : messages) why += (why.empty() ? "" : "; ") + m;
    if (why.empty()) why = "libmicrohttpd failed to start";
    return Err("cannot listen on {}: {}", options_.listen_address, why);
  }
  for (const std::string& m : messages) log::Warn("http server", {{"msg", m}});
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : 0;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Err("eventfd: {}", std::strerror(errno));
  loop_ = std::thread([this] { Loop(); });
  return {};
}

HttpServer::Impl::~Impl() {
  if (loop_.joinable()) {
    stopping_ = true;
    Wake();
    loop_.join();
  }
  // Handlers still running finish and resume their connections; then every connection closes.
  workers_.Stop();
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void HttpServer::Impl::Loop() {
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
  pollfd fds[2] = {{info->epoll_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  next_sweep_ = steady_clock::now() + kSweepEvery;
  next_certificate_check_ = steady_clock::now() + kCertificateCheckEvery;
  while (!stopping_.load(std::memory_order_relaxed)) {
    auto now = steady_clock::now();
    long long timeout_ms =
        std::chrono::ceil<std::chrono::milliseconds>(std::max(next_sweep_ - now, {})).count();
    MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
    if (MHD_get_timeout(daemon_, &mhd_ms) == MHD_YES) {
      timeout_ms = std::min<long long>(timeout_ms, static_cast<long long>(mhd_ms));
    }
    if (::poll(fds, 2, static_cast<int>(timeout_ms)) > 0 && (fds[1].revents & POLLIN) != 0) {
      std::uint64_t wakes = 0;
      (void)!::read(wake_fd_, &wakes, sizeof wakes);
    }
    MHD_run(daemon_);
    now = steady_clock::now();
    if (now >= next_sweep_) {
      Sweep(now);
      next_sweep_ = now + kSweepEvery;
    }
  }
}

void HttpServer::Impl::Sweep(steady_clock::time_point now) {
  for (Connection* conn : connections_) {
    if (conn->phase == Connection::Phase::kIdle) {
      if (BytesReceived(conn->fd) != conn->idle_bytes) {
        conn->phase = Connection::Phase::kReceiving;
        conn->receiving_since = now;
      }
    } else if (conn->phase == Connection::Phase::kReceiving &&
               now - conn->receiving_since > options_.request_timeout) {
      // libmicrohttpd sees the connection end on its next read and closes it.
      ::shutdown(conn->fd, SHUT_RDWR);
      conn->phase = Connection::Phase::kHandling;
      if (metrics_) metrics_->ConnectionRefused("request_timeout");
      timeout_log_.Add(now, conn->peer_text);
    }
  }
  if (tls_ && now >= next_certificate_check_) {
    next_certificate_check_ = now + kCertificateCheckEvery;
    if (!certificate_check_pending_.exchange(true)) {
      workers_.Post([this] {
        CheckCertificate();
        certificate_check_pending_ = false;
      });
    }
  }
}

void HttpServer::Impl::CheckCertificate() {
  std::string error;
  switch (tls_->ReloadIfChanged(&error)) {
    case TlsCredentials::Reload::kUnchanged:
      return;
    case TlsCredentials::Reload::kReloaded:
      log::Info("TLS certificate reloaded",
                {{"cert_file", tls_->config().cert_file},
                 {"not_after", static_cast<std::int64_t>(tls_->not_after())}});
      if (metrics_) metrics_->CertificateReloaded(true, tls_->not_after());
      return;
    case TlsCredentials::Reload::kFailed:
      log::Error("TLS certificate or key changed but does not load; serving the previous pair",
                 {{"err", error}});
      if (metrics_) metrics_->CertificateReloaded(false, tls_->not_after());
      return;
  }
}

MHD_Result HttpServer::Impl::OnAccept(void* self_ptr, const sockaddr* addr, socklen_t) {
  auto* self = static_cast<Impl*>(self_ptr);
  const char* reason = nullptr;
  if (self->connections_.size() >= self->options_.max_connections) {
    reason = "max_connections";
  } else if (auto it = self->per_peer_.find(KeyOf(addr));
             it != self->per_peer_.end() && it->second >= self->options_.max_connections_per_peer) {
    reason = "max_connections_per_peer";
  }
  if (reason == nullptr) return MHD_YES;
  if (self->metrics_) self->metrics_->ConnectionRefused(reason);
  self->refused_log_.Add(steady_clock::now(), fmt::format("{} from {}", reason, TextOf(addr)));
  return MHD_NO;
}

void HttpServer::Impl::OnConnection(void* self_ptr, MHD_Connection* c, void** socket_context,
                                    MHD_ConnectionNotificationCode code) {
  auto* self = static_cast<Impl*>(self_ptr);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    auto* conn = new Connection();
    conn->server = self;
    const MHD_ConnectionInfo* fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn->fd = fd != nullptr ? fd->connect_fd : -1;
    const MHD_ConnectionInfo* addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    conn->peer = KeyOf(addr != nullptr ? addr->client_addr : nullptr);
    conn->peer_text = TextOf(addr != nullptr ? addr->client_addr : nullptr);
    conn->receiving_since = steady_clock::now();
    self->connections_.push_front(conn);
    conn->position = self->connections_.begin();
    ++self->per_peer_[conn->peer];
    *socket_context = conn;
  } else {
    auto* conn = static_cast<Connection*>(*socket_context);
    if (conn == nullptr) return;
    self->connections_.erase(conn->position);
    if (auto it = self->per_peer_.find(conn->peer);
        it != self->per_peer_.end() && --it->second == 0) {
      self->per_peer_.erase(it);
    }
    delete conn;
    *socket_context = nullptr;
  }
  if (self->metrics_) self->metrics_->ConnectionsOpen(self->connections_.size());
}

void HttpServer::Impl::OnCompleted(void*, MHD_Connection* c, void** con_cls,
                                   MHD_RequestTerminationCode) {
  delete static_cast<Request*>(*con_cls);
  *con_cls = nullptr;
  if (Connection* conn = ConnectionOf(c)) {
    conn->phase = Connection::Phase::kIdle;
    conn->idle_bytes = BytesReceived(conn->fd);
  }
}

int HttpServer::Impl::OnCertificate(gnutls_session_t session, const gnutls_datum_t*, int,
                                    const gnutls_pk_algorithm_t*, int, gnutls_pcert_st** pcert,
                                    unsigned int* pcert_length, gnutls_privkey_t* pkey) {
  Connection* conn = ConnectionOf(session);
  if (conn == nullptr || !conn->server->tls_) return -1;
  return conn->server->tls_->SelectCertificate(session, &Impl::OnClientCertificate, pcert,
                                               pcert_length, pkey);
}

int HttpServer::Impl::OnClientCertificate(gnutls_session_t session) {
  Connection* conn = ConnectionOf(session);
  if (conn == nullptr || !conn->server->tls_) return -1;
  Impl* self = conn->server;
  std::string why;
  const int verified = self->tls_->VerifyPeer(session, &why);
  if (verified >= 0) return 0;
  // The client hears why (bad_certificate, certificate_required...), as from Go's servers,
  // rather than a bare close.
  gnutls_alert_send_appropriate(session, verified);
  if (self->metrics_) self->metrics_->ConnectionRefused("client_certificate");
  self->certificate_log_.Add(steady_clock::now(), fmt::format("{}: {}", conn->peer_text, why));
  return -1;
}

MHD_Result HttpServer::Impl::OnRequest(void* self_ptr, MHD_Connection* c, const char* url,
                                       const char* method, const char*, const char* upload_data,
                                       size_t* upload_data_size, void** con_cls) {
  auto* self = static_cast<Impl*>(self_ptr);
  Connection* conn = ConnectionOf(c);
  if (conn == nullptr) return MHD_NO;
  auto* r = static_cast<Request*>(*con_cls);
  if (r == nullptr) {
    r = new Request();
    *con_cls = r;
    return self->Begin(c, conn, *r, url, method);
  }
  if (*upload_data_size > 0) {
    if (!r->too_large) {
      if (r->req.body.size() + *upload_data_size > r->max_body) {
        r->too_large = true;
        std::string().swap(r->req.body);
      } else {
        r->req.body.append(upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  return self->Finish(c, conn, *r);
}

MHD_Result HttpServer::Impl::Begin(MHD_Connection* c, Connection* conn, Request& r, const char* url,
                                   const char* method) {
  if (conn->phase == Connection::Phase::kIdle) {
    conn->phase = Connection::Phase::kReceiving;
    conn->receiving_since = steady_clock::now();
  }
  HttpRequest& req = r.req;
  req.received = steady_clock::now();
  req.method = method;
  req.path = url;
  req.remote_addr = conn->peer_text;
  req.headers.reserve(12);
  MHD_get_connection_values_n(
      c, MHD_HEADER_KIND,
      [](void* out, MHD_ValueKind, const char* key, size_t key_size, const char* value,
         size_t value_size) {
        static_cast<std::vector<std::pair<std::string_view, std::string_view>>*>(out)->emplace_back(
            std::string_view(key, key_size),
            std::string_view(value != nullptr ? value : "", value != nullptr ? value_size : 0));
        return MHD_YES;
      },
      &req.headers);

  if (tls_ && !conn->identity_known) {
    conn->identity_known = true;
    if (VerifiesClientCert(tls_->config().client_auth)) {
      const MHD_ConnectionInfo* info =
          MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
      if (info != nullptr) {
        conn->certificate = tls_->PeerCertificate(static_cast<gnutls_session_t>(info->tls_session));
      }
    }
  }
  req.identity.certificate = conn->certificate;

  // Two Authorization headers are no credentials: which one would count depends on who reads.
  if (std::count_if(req.headers.begin(), req.headers.end(), [](const auto& h) {
        return h.first.size() == 13 && strncasecmp(h.first.data(), "Authorization", 13) == 0;
      }) > 1) {
    return Queue(c, HttpResponse::Text(400, "more than one Authorization header\n"));
  }

  if (basic_auth_) {
    BasicAuth::Decision d = basic_auth_->Lookup(req.Header("Authorization").value_or(""));
    switch (d.outcome) {
      case BasicAuth::Outcome::kAuthenticated:
        req.identity.user = std::move(d.user);
        break;
      case BasicAuth::Outcome::kRejected:
        return Queue(c, Unauthorized());
      case BasicAuth::Outcome::kNeedsVerify:
        r.verify_password = true;  // on a worker, in Finish
        break;
    }
  }
  r.routes = routes_->Get();
  r.route = FindRoute(*r.routes, req.path);
  if (!r.verify_password) {
    if (std::optional<HttpResponse> refused = RefuseRequest(r.route, req)) {
      return Queue(c, std::move(*refused));
    }
  }

  // The body: its length is checked before a byte of it is read.
  r.max_body = r.route != nullptr ? r.route->max_body : 0;
  std::optional<std::string_view> length = req.Header("Content-Length");
  std::optional<std::string_view> coding = req.Header("Transfer-Encoding");
  const bool chunked = coding && strcasestr(std::string(*coding).c_str(), "chunked") != nullptr;
  std::uint64_t declared = 0;
  if (length) std::from_chars(length->data(), length->data() + length->size(), declared);
  if (declared > 0 || chunked) {
    if (r.max_body == 0) {
      return Queue(c, HttpResponse::Text(413, fmt::format("{} takes no request body", req.path)));
    }
    if (declared > r.max_body) {
      return Queue(c, HttpResponse::Text(413, fmt::format("request body of {} bytes is over the "
                                                          "limit of {} bytes for {}",
                                                          declared, r.max_body, req.path)));
    }
    req.body.reserve(static_cast<std::size_t>(declared));
  } else if (r.max_body > 0 && !length &&
             (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
    return Queue(
        c, HttpResponse::Text(411, "send the body's length (Content-Length) or a chunked body"));
  }
  return MHD_YES;
}

MHD_Result HttpServer::Impl::Finish(MHD_Connection* c, Connection* conn, Request& r) {
  if (r.response) return Queue(c, std::move(*r.response));
  conn->phase = Connection::Phase::kHandling;
  if (r.too_large) {
    return Queue(c, HttpResponse::Text(413, fmt::format("request body over the limit of {} bytes "
                                                        "for {}",
                                                        r.max_body, r.req.path)));
  }
  if (!r.verify_password) {
    if (!r.route->may_block) return Queue(c, Handle(r));
    if (r.route->fast_path) {
      std::optional<HttpResponse> fast;
      try {
        fast = r.route->fast_path(r.req);
      } catch (const std::exception& e) {
        log::Error("request handler failed", {{"path", r.req.path}, {"err", e.what()}});
        return Queue(c, HttpResponse::Text(500, "internal error"));
      }
      if (fast) return Queue(c, std::move(*fast));
    }
  }
  // Set aside until a worker has the response; then libmicrohttpd calls OnRequest again.
  MHD_suspend_connection(c);
  workers_.Post([this, c, &r] {
    r.response = Handle(r);
    MHD_resume_connection(c);
    // In external-loop mode libmicrohttpd does not wake the loop for a resume itself.
    Wake();
  });
  return MHD_YES;
}

HttpResponse HttpServer::Impl::Handle(Request& r) {
  if (r.verify_password) {
    std::optional<std::string> user =
        basic_auth_->Verify(r.req.Header("Authorization").value_or(""));
    if (!user) return Unauthorized();
    r.req.identity.user = std::move(*user);
    if (std::optional<HttpResponse> refused = RefuseRequest(r.route, r.req)) {
      return std::move(*refused);
    }
  }
  try {
    return r.route->handler(r.req);
  } catch (const std::exception& e) {
    log::Error("request handler failed", {{"path", r.req.path}, {"err", e.what()}});
    return HttpResponse::Text(500, "internal error");
  }
}

MHD_Result HttpServer::Impl::Queue(MHD_Connection* c, HttpResponse resp) {
  if (metrics_ && IsRefusal(resp.status)) metrics_->RequestRefused(resp.status);
  auto* holder = new BodyHolder{std::move(resp.shared_body), std::move(resp.body)};
  const std::string& body = holder->shared ? *holder->shared : holder->own;
  MHD_Response* m = MHD_create_response_from_buffer_with_free_callback_cls(
      body.size(), const_cast<char*>(body.data()), &FreeBody, holder);
  if (m == nullptr) {
    delete holder;
    return MHD_NO;
  }
  // "Connection: Keep-Alive" when the connection stays open, as HTTP/1.0 clients need to hear.
  MHD_set_response_options(m, MHD_RF_SEND_KEEP_ALIVE_HEADER, MHD_RO_END);
  MHD_add_response_header(m, "Content-Type", resp.content_type.c_str());
  for (const auto& [k, v] : resp.headers) MHD_add_response_header(m, k.c_str(), v.c_str());
  if (web_ != nullptr) {
    for (const auto& [k, v] : web_->headers) MHD_add_response_header(m, k.c_str(), v.c_str());
  }
  MHD_Result queued = MHD_queue_response(c, static_cast<unsigned>(resp.status), m);
  MHD_destroy_response(m);
  return queued;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
int HttpServer::port() const { return impl_->port(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                      std::shared_ptr<const RouteTable> routes,
                                                      std::shared_ptr<const WebConfig> web,
                                                      std::shared_ptr<HttpServerMetrics> metrics) {
  auto impl =
      std::make_unique<Impl>(options, std::move(routes), std::move(web), std::move(metrics));
  if (Status started = impl->Start(); !started.ok()) return started.error();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                      std::vector<Route> routes,
                                                      std::shared_ptr<const WebConfig> web,
                                                      std::shared_ptr<HttpServerMetrics> metrics) {
  return Start(options, std::make_shared<const RouteTable>(std::move(routes)), std::move(web),
               std::move(metrics));
}

}  // namespace drift::exporter
