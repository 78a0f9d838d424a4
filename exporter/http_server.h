#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace drift::exporter {

struct WebConfig;

// A client certificate verified against the web configuration's client_ca_file.
struct ClientCertificate {
  std::string subject;            // RFC 4514 distinguished name
  std::vector<std::string> sans;  // DNS, IP, e-mail and URI subject alternative names
};

// Who sent a request, as far as the server could tell. Empty: not authenticated that way.
struct Identity {
  std::string user;  // basic auth (web config's basic_auth_users)
  std::shared_ptr<const ClientCertificate> certificate;

  // Whether `names` (user names or certificate SANs) includes this identity.
  bool AnyOf(const std::vector<std::string>& names) const;
};

// A request as handlers see it: a plain value, so that a handler is tested without a server.
// Header values are views into the server's memory for the request, valid while its handler
// runs.
struct HttpRequest {
  std::string method;
  std::string path;  // decoded, without the query
  std::string remote_addr;
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // as received
  std::string body;   // read in full (up to the route's max_body) before the handler runs
  Identity identity;  // who sent it
  // When its headers arrived, on the steady clock (a handler that waits counts from here, not
  // from when a worker took it up); the epoch when unknown.
  std::chrono::steady_clock::time_point received{};

  // The first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::shared_ptr<const std::string> shared_body;  // served instead of body when set (no copy)
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Text(int status, std::string body);
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// One route: exact path, or a prefix when the path ends in '/'. Methods other than `methods`
// get 405 with an Allow header (HEAD is served wherever GET is).
struct Route {
  Route(std::string route_path, std::vector<std::string> route_methods, Handler route_handler,
        bool blocks = false)
      : path(std::move(route_path)),
        methods(std::move(route_methods)),
        handler(std::move(route_handler)),
        may_block(blocks) {}

  std::string path;
  std::vector<std::string> methods;
  Handler handler;
  // Where `handler` runs. False: on the server's event loop, so it must return in microseconds
  // (no waiting on locks held long, no I/O). True: on a worker thread, with the connection set
  // aside meanwhile; for handlers that wait (a render, checks run for a scrape, a reload).
  bool may_block = false;
  // Tried first on the event loop when the handler may block: a response, or nullopt to run
  // `handler` on a worker after all (a cached /metrics body is served without a thread switch).
  std::function<std::optional<HttpResponse>(const HttpRequest&)> fast_path;
  // Request bodies: 0 refuses any (413); otherwise bodies up to this many bytes are read
  // (Content-Length or chunked) into HttpRequest::body, a larger one is refused with 413, and a
  // request that could carry a body but says neither its length nor chunked gets 411.
  std::size_t max_body = 0;
  // Who may call it once authenticated (web config): basic-auth user names or client certificate
  // SANs; empty: anyone authenticated. Others get 403.
  std::vector<std::string> allowed;
};

// The routes a server serves, replaced whole while it runs (the App adds its modules' routes once
// they exist). A request keeps the table it was routed with until it is answered. Thread-safe.
class RouteTable {
 public:
  explicit RouteTable(std::vector<Route> routes = {});
  std::shared_ptr<const std::vector<Route>> Get() const;
  // Replaces the table; refuses one in which two routes have the same path, naming it.
  Status Set(std::vector<Route> routes);

 private:
  std::atomic<std::shared_ptr<const std::vector<Route>>> routes_;
};

// Which route serves `path` (decoded, without the query): the first whose path equals it, or
// ends in '/' and is a proper prefix of it. nullptr if none. Pure.
const Route* FindRoute(const std::vector<Route>& routes, std::string_view path);

// The answer for `req` when it cannot reach `route`'s handler, or nullopt when it can: 404 when
// no route matches (`route` null), 405 with an Allow header for another method, 403 when
// `route->allowed` does not name the caller. Pure.
std::optional<HttpResponse> RefuseRequest(const Route* route, const HttpRequest& req);

// The response to `req`: RefuseRequest's, or the handler's. Pure but for what the handler does.
HttpResponse RouteRequest(const std::vector<Route>& routes, const HttpRequest& req);

// The bounds on connections (docs/web_config.md, "Connections"). A client that sends nothing
// for `idle_timeout`, or takes longer than `request_timeout` from the first byte of a request
// to its last, is disconnected; beyond `max_connections` in all, or `max_connections_per_peer`
// from one address, new connections are closed at once.
struct HttpOptions {
  std::string listen_address = ":9968";  // host:port, [v6]:port or :port (all interfaces)
  unsigned max_connections = 512;
  unsigned max_connections_per_peer = 64;
  std::chrono::seconds request_timeout{10};
  std::chrono::seconds idle_timeout{60};
  unsigned max_workers = 8;  // threads for handlers that may block, started when needed
  std::size_t max_header_bytes = 16384;
};

// What the server counts, for its metrics (ExporterMetrics implements it). Called from the
// server's threads; must be thread-safe.
class HttpServerMetrics {
 public:
  virtual ~HttpServerMetrics() = default;
  virtual void ConnectionsOpen(std::size_t open) = 0;
  // reason: "max_connections", "max_connections_per_peer", "request_timeout" (closed after
  // accepting), "client_certificate" (TLS handshake refused).
  virtual void ConnectionRefused(std::string_view reason) = 0;
  // A request answered with a 4xx before reaching its handler (401, 403, 404, 405, 411, 413).
  virtual void RequestRefused(int status) = 0;
  // After each re-read of a changed certificate or key file; `not_after` of the pair in use.
  virtual void CertificateReloaded(bool ok, double not_after) = 0;
};

// An event-driven HTTP/1.1 server (libmicrohttpd in epoll mode on one thread of its own), with
// TLS, client certificates, basic auth and response headers from the web configuration, and a
// small pool of worker threads for handlers that may block. It serves no files.
class HttpServer {
 public:
  // Starts listening. Returns an error saying why it could not (bad address, port in use, TLS
  // set-up). `web` may be null (plain HTTP, no authentication); `metrics` may be null.
  static Result<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, std::shared_ptr<const RouteTable> routes,
      std::shared_ptr<const WebConfig> web = nullptr,
      std::shared_ptr<HttpServerMetrics> metrics = nullptr);
  // The same with routes that never change.
  static Result<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, std::vector<Route> routes,
      std::shared_ptr<const WebConfig> web = nullptr,
      std::shared_ptr<HttpServerMetrics> metrics = nullptr);
  // Stops accepting, waits for handlers running on workers, closes every connection.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The TCP port actually bound (useful with port 0).
  int port() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A Go-style listen address ("host:port", "[v6]:port", ":port") checked and split: the host ("" for
// every address; "localhost" becomes 127.0.0.1) and the port. Host names are refused. Pure.
struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 address (without brackets), or "" for every address
  int port = 0;
};
Result<ListenAddress> ParseListenAddress(std::string_view address);

// The URL people reach this exporter at (--web.external-url), without a trailing '/': `flag`
// checked (http:// or https://, no credentials, query or fragment), or when `flag` is empty,
// <scheme>://<host>:<port> of the listen address: its host when it names one (127.0.0.1, [::1]),
// `hostname` when it listens on every address (":9968", "0.0.0.0:9968", "[::]:9968"); the
// scheme is https when `tls`. Port 0 stays 0: the port is not known before listening. Pure.
Result<std::string> ExternalUrl(std::string_view flag, std::string_view listen_address,
                                std::string_view hostname, bool tls = false);

}  // namespace drift::exporter
