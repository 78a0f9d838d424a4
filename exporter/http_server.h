#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct mg_context;
struct mg_connection;

namespace drift::exporter {

struct HttpRequest {
  std::string method;
  std::string path;   // decoded, without the query
  std::string query;  // raw, without '?'
  std::string remote_addr;
  const mg_connection* conn = nullptr;
  // A request header, or nullopt.
  std::optional<std::string_view> Header(const char* name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::shared_ptr<const std::string> shared_body;  // served instead of body when set (no copy)
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Text(int status, std::string body);
};

// One route: exact path, or a prefix when the path ends in '/'. Methods other than `methods`
// get 405 with an Allow header.
struct Route {
  std::string path;
  std::vector<std::string> methods;
  std::function<HttpResponse(const HttpRequest&)> handler;
};

struct HttpOptions {
  std::string listen_address = ":9968";  // host:port, [v6]:port or :port (all interfaces)
  int max_connections = 16;              // worker threads; each keeps one keep-alive connection
};

// Which route serves `path` (decoded, without the query): the first whose path equals it, or
// ends in '/' and is a proper prefix of it. nullptr if none. Pure.
const Route* FindRoute(const std::vector<Route>& routes, std::string_view path);

// The response to `req`: its route's handler's, 404 when no route matches, 405 with an Allow
// header when the route does not take the method (HEAD is served wherever GET is). Pure but for
// what the handler does.
HttpResponse RouteRequest(const std::vector<Route>& routes, const HttpRequest& req);

// Whether the connection stays open after the response, by the rule civetweb applies
// (should_keep_alive): a keep-alive token in the client's Connection header value if it sent one,
// else HTTP/1.1's default ("1.1" as `http_version`). Pure.
bool KeepAliveRequested(std::optional<std::string_view> connection, std::string_view http_version);

// civetweb with no document root (it serves no files), TCP_NODELAY, bounded threads, request
// size and keep-alive limits, routing to handlers. Handlers run on civetweb's worker threads and
// must be thread-safe.
class HttpServer {
 public:
  // Starts listening. Returns an error saying why it could not (bad address, port in use).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpOptions& options,
                                                   std::vector<Route> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The TCP port actually bound (useful with port 0).
  int port() const { return port_; }

 private:
  HttpServer() = default;
  static int Dispatch(mg_connection* conn, void* self);

  mg_context* ctx_ = nullptr;
  std::vector<Route> routes_;
  int port_ = 0;
};

// Translates a Go-style listen address into civetweb's listening_ports syntax.
Result<std::string> CivetListenSpec(std::string_view address);

// The URL people reach this exporter at (--web.external-url), without a trailing '/': `flag`
// checked (http:// or https://, no credentials, query or fragment), or when `flag` is empty,
// http://<host>:<port> of the listen address: its host when it names one (127.0.0.1, [::1]),
// `hostname` when it listens on every address (":9968", "0.0.0.0:9968", "[::]:9968"). Port 0
// stays 0: the port is not known before listening. Pure.
Result<std::string> ExternalUrl(std::string_view flag, std::string_view listen_address,
                                std::string_view hostname);

}  // namespace drift::exporter
