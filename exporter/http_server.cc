#include "exporter/http_server.h"

#include <civetweb.h>
#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <iterator>

#include "alerts/config.h"
#include "common/log.h"
#include "common/strings.h"

namespace drift::exporter {
namespace {

// While mg_start2 runs on this thread, what civetweb logs is collected here instead: it says why
// the start failed ("cannot bind to 127.0.0.1:9968: 98 (Address already in use)"), where the
// error it returns only says "Failed to setup server ports".
thread_local std::vector<std::string>* start_messages = nullptr;

int LogMessage(const mg_connection*, const char* message) {
  if (start_messages != nullptr) {
    start_messages->emplace_back(message);
  } else {
    log::Warn("http server", {{"err", message}});
  }
  return 1;
}

// Whether civetweb keeps the connection open after this request, by the rule it applies
// (should_keep_alive): the client's Connection header if it sent one, else HTTP/1.1's default.
bool KeepAlive(const mg_connection* conn, const mg_request_info& info) {
  const char* connection = mg_get_header(conn, "Connection");
  return KeepAliveRequested(
      connection != nullptr ? std::optional<std::string_view>(connection) : std::nullopt,
      info.http_version != nullptr ? info.http_version : "");
}

// The Date header's value, formatted once a second per thread.
std::string_view HttpDate() {
  thread_local std::time_t formatted_at = -1;
  thread_local char text[40] = "";
  thread_local std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != formatted_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    formatted_at = now;
  }
  return {text, length};
}

// Bodies up to this size go out in the same send() as the head.
constexpr std::size_t kCoalescedBodyMax = 64 << 10;

// Sends the status line, headers and body. civetweb's mg_response_header_* send every header
// line with its own send(), which with TCP_NODELAY is a segment (and a client wake-up) each:
// seven for a scrape. Here the head is composed in a per-thread buffer (no allocation once it
// has grown) and goes out with the body in one send(), or in two for a large body.
void SendResponse(mg_connection* conn, const mg_request_info& info, const HttpResponse& resp,
                  std::string_view body, bool head_only) {
  thread_local std::string out;
  out.clear();
  const char* reason = mg_get_response_code_text(conn, resp.status);
  fmt::format_to(std::back_inserter(out),
                 "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nDate: {}\r\n"
                 "Connection: {}\r\n",
                 resp.status, reason != nullptr ? reason : "", resp.content_type, body.size(),
                 HttpDate(), KeepAlive(conn, info) ? "keep-alive" : "close");
  for (const auto& [k, v] : resp.headers) {
    out.append(k).append(": ").append(v).append("\r\n");
  }
  out.append("\r\n");
  if (head_only) body = {};
  if (body.size() <= kCoalescedBodyMax) {
    out.append(body);
    body = {};
  }
  mg_write(conn, out.data(), out.size());
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

bool ValidPort(std::string_view p) {
  int port = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  return ec == std::errc() && end == p.data() + p.size() && port >= 0 && port <= 65535;
}

}  // namespace

bool KeepAliveRequested(std::optional<std::string_view> connection, std::string_view http_version) {
  if (!connection) return http_version == "1.1";
  std::string_view tokens = *connection;
  while (!tokens.empty()) {
    std::size_t comma = tokens.find(',');
    // Optional whitespace (RFC 9110) around the token.
    std::string_view token = Trim(tokens.substr(0, comma));
    if (token.size() == 10 && strncasecmp(token.data(), "keep-alive", 10) == 0) return true;
    if (comma == std::string_view::npos) break;
    tokens.remove_prefix(comma + 1);
  }
  return false;
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

HttpResponse RouteRequest(const std::vector<Route>& routes, const HttpRequest& req) {
  const Route* route = FindRoute(routes, req.path);
  if (route == nullptr) {
    return HttpResponse::Text(404, fmt::format("404 page not found: {}", req.path));
  }
  std::string method = req.method == "HEAD" ? "GET" : req.method;
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
  return route->handler(req);
}

std::optional<std::string_view> HttpRequest::Header(const char* name) const {
  const char* v = mg_get_header(conn, name);
  if (v == nullptr) return std::nullopt;
  return std::string_view(v);
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  return r;
}

Result<std::string> CivetListenSpec(std::string_view address) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return Err("invalid listen address {:?}; expected host:port, [ipv6]:port or :port", address);
  }
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (!ValidPort(port)) {
    return Err("invalid port in listen address {:?}; expected 0 to 65535", address);
  }
  if (host.empty()) return fmt::format("+{}", port);  // every IPv4 and IPv6 address
  if (host.front() == '[') {
    if (host.back() != ']') return Err("invalid listen address {:?}", address);
    return fmt::format("{}:{}", host, port);
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.find_first_not_of("0123456789.") != std::string_view::npos) {
    return Err("invalid listen address {:?}; use an IP address, not a host name", address);
  }
  return fmt::format("{}:{}", host, port);
}

Result<std::string> ExternalUrl(std::string_view flag, std::string_view listen_address,
                                std::string_view hostname) {
  if (!flag.empty()) {
    // Credentials are refused here: CheckHttpUrl's own message is about Alertmanager secrets.
    std::size_t scheme = flag.find("://");
    std::string_view authority = flag.substr(scheme == std::string_view::npos ? 0 : scheme + 3);
    if (authority.substr(0, authority.find('/')).find('@') != std::string_view::npos) {
      return Err("--web.external-url must not contain credentials");
    }
    return alerts::CheckHttpUrl(flag, "--web.external-url");
  }
  Result<std::string> spec = CivetListenSpec(listen_address);  // validates the address
  if (!spec.ok()) return spec.error();
  std::size_t colon = listen_address.rfind(':');
  std::string_view host = listen_address.substr(0, colon);
  std::string_view port = listen_address.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = hostname;
  return fmt::format("http://{}:{}", host, port);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                      std::vector<Route> routes) {
  Result<std::string> ports = CivetListenSpec(options.listen_address);
  if (!ports.ok()) return ports.error();
  static const unsigned kInit = mg_init_library(0);
  (void)kInit;
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->routes_ = std::move(routes);
  std::string threads = std::to_string(options.max_connections);
  const char* civet_options[] = {"listening_ports",
                                 ports->c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "tcp_nodelay",
                                 "1",
                                 "enable_keep_alive",
                                 "yes",
                                 "keep_alive_timeout_ms",
                                 "10000",
                                 "request_timeout_ms",
                                 "10000",
                                 "max_request_size",
                                 "16384",
                                 "enable_directory_listing",
                                 "no",
                                 "decode_url",
                                 "yes",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &LogMessage;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof error_text};
  mg_init_data init{&callbacks, server.get(), civet_options};
  std::vector<std::string> messages;
  start_messages = &messages;
  server->ctx_ = mg_start2(&init, &error);
  start_messages = nullptr;
  if (server->ctx_ == nullptr) {
    std::string why;
    for (const std::string& m : messages) {
      if (m != error_text) why += (why.empty() ? "" : "; ") + m;
    }
    if (why.empty()) why = error_text[0] != '\0' ? error_text : "civetweb failed to start";
    return Err("cannot listen on {}: {}", options.listen_address, why);
  }
  for (const std::string& m : messages) log::Warn("http server", {{"err", m}});
  mg_set_request_handler(server->ctx_, "/", &HttpServer::Dispatch, server.get());
  mg_server_port bound[4] = {};
  int n = mg_get_server_ports(server->ctx_, 4, bound);
  server->port_ = n > 0 ? bound[0].port : 0;
  return server;
}

HttpServer::~HttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int HttpServer::Dispatch(mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<HttpServer*>(self_ptr);
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest req;
  req.conn = conn;
  req.method = info->request_method != nullptr ? info->request_method : "";
  req.path = info->local_uri != nullptr ? info->local_uri : "/";
  req.query = info->query_string != nullptr ? info->query_string : "";
  req.remote_addr = info->remote_addr;

  HttpResponse resp = RouteRequest(self->routes_, req);
  SendResponse(conn, *info, resp, resp.shared_body ? *resp.shared_body : resp.body,
               req.method == "HEAD");
  return resp.status;
}

}  // namespace drift::exporter
