#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "exporter/web_config.h"

namespace drift::exporter {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A client socket, closed when it goes; movable (the tests hold many).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

Fd Connect(int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  return fd;
}

void Send(const Fd& fd, std::string_view data) {
  (void)!::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
}

// What the server sends until `needle` has arrived (the connection stays open; an empty needle:
// until the server closes it), or `limit` passes.
std::string ReadUntil(const Fd& fd, std::string_view needle,
                      milliseconds limit = milliseconds(5000)) {
  std::string out;
  const auto until = steady_clock::now() + limit;
  while (needle.empty() || out.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<milliseconds>(until - steady_clock::now()).count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return out + "<timed out>";
    char buf[4096];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// What the server sends until it closes the connection, or `limit` passes.
std::string ReadAll(const Fd& fd, milliseconds limit = milliseconds(5000)) {
  return ReadUntil(fd, {}, limit);
}

// One request on its own connection ("Connection: close"); the whole answer.
std::string Fetch(int port, const std::string& request_line, const std::string& headers = "",
                  const std::string& body = "") {
  Fd fd = Connect(port);
  if (!fd) return "connect failed";
  Send(fd, request_line + "\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n" + body);
  return ReadAll(fd);
}

bool Has(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// The server's count of open connections, as its metrics see it; tests wait on it instead of
// sleeping until the server has noticed a connection come or go.
class OpenConnections : public HttpServerMetrics {
 public:
  void ConnectionsOpen(std::size_t open) override {
    {
      std::lock_guard lock(mu_);
      open_ = open;
    }
    cv_.notify_all();
  }
  void ConnectionRefused(std::string_view) override {}
  void RequestRefused(int) override {}
  void CertificateReloaded(bool, double) override {}
  // True when the count reaches `n` within 5 s.
  bool WaitFor(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return open_ == n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t open_ = 0;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<Route> routes;
    routes.push_back({"/metrics", {"GET"}, [](const HttpRequest&) {
                        HttpResponse r;
                        r.shared_body = std::make_shared<const std::string>("m 1\n");
                        return r;
                      }});
    routes.push_back({"/checks/", {"GET"}, [](const HttpRequest& req) {
                        return HttpResponse::Text(200, "check " + req.path.substr(8));
                      }});
    Route echo("/echo", {"POST"},
               [](const HttpRequest& req) { return HttpResponse::Text(200, "got " + req.body); });
    echo.may_block = true;
    echo.max_body = 64;
    routes.push_back(std::move(echo));
    routes.push_back({"/-/reload", {"POST"}, [](const HttpRequest&) {
                        return HttpResponse::Text(200, "reloaded");
                      }});
    routes.push_back({"/header", {"GET"}, [](const HttpRequest& req) {
                        return HttpResponse::Text(
                            200, std::string(req.Header("x-TEST").value_or("none")));
                      }});
    HttpOptions options;
    options.listen_address = "127.0.0.1:0";
    options.request_timeout = std::chrono::seconds(1);
    auto server = HttpServer::Start(options, std::move(routes));
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static int port() { return server_->port(); }
  static std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<HttpServer> HttpServerTest::server_;

TEST_F(HttpServerTest, ServesRoutesAndPrefixes) {
  std::string r = Fetch(port(), "GET /metrics HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 200 OK")) << r;
  EXPECT_TRUE(Has(r, "Content-Length: 4")) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\nm 1\n")) << r;
  r = Fetch(port(), "GET /checks/fire%20wall HTTP/1.1");
  EXPECT_TRUE(r.ends_with("check fire wall\n")) << r;
  r = Fetch(port(), "GET /header HTTP/1.1", "X-Test: yes\r\n");
  EXPECT_TRUE(r.ends_with("\r\n\r\nyes\n")) << r;
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  std::string r = Fetch(port(), "POST /metrics HTTP/1.1", "Content-Length: 0\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 405")) << r;
  EXPECT_TRUE(Has(r, "Allow: GET, HEAD\r\n")) << r;
  r = Fetch(port(), "GET /-/reload HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 405")) << r;
  EXPECT_TRUE(Has(r, "Allow: POST")) << r;
}

TEST_F(HttpServerTest, UnknownPathsAre404AndNoFilesAreServed) {
  for (const char* path : {"/nope", "/checks/", "/etc/passwd", "/../../etc/passwd"}) {
    std::string r = Fetch(port(), std::string("GET ") + path + " HTTP/1.1");
    EXPECT_TRUE(Has(r, "HTTP/1.1 404")) << path << ": " << r;
  }
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  std::string r = Fetch(port(), "HEAD /metrics HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 200")) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\n")) << r;
}

TEST_F(HttpServerTest, ReadsBodiesUpToTheCap) {
  std::string r = Fetch(port(), "POST /echo HTTP/1.1", "Content-Length: 5\r\n", "hello");
  EXPECT_TRUE(r.ends_with("got hello\n")) << r;
  r = Fetch(port(), "POST /echo HTTP/1.1", "Transfer-Encoding: chunked\r\n",
            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_TRUE(r.ends_with("got abcde\n")) << r;
}

TEST_F(HttpServerTest, BodiesPastTheCapAre413BeforeBeingRead) {
  std::string r = Fetch(port(), "POST /echo HTTP/1.1", "Content-Length: 65\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 413")) << r;
  EXPECT_TRUE(Has(r, "request body of 65 bytes is over the limit of 64 bytes for /echo")) << r;
  // Chunked: the size is known only once read.
  std::string chunk(40, 'x');
  r = Fetch(port(), "POST /echo HTTP/1.1", "Transfer-Encoding: chunked\r\n",
            "28\r\n" + chunk + "\r\n28\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 413")) << r;
  // A route that takes no body.
  r = Fetch(port(), "POST /-/reload HTTP/1.1", "Content-Length: 3\r\n", "abc");
  EXPECT_TRUE(Has(r, "HTTP/1.1 413")) << r;
  EXPECT_TRUE(Has(r, "/-/reload takes no request body")) << r;
}

TEST_F(HttpServerTest, HeadersPastTheLimitAre431AndALongPathIs414) {
  std::string r =
      Fetch(port(), "GET /metrics HTTP/1.1", "X-Big: " + std::string(40000, 'a') + "\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 431")) << r.substr(0, 200);
  r = Fetch(port(), "GET /checks/" + std::string(40000, 'a') + " HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 414")) << r.substr(0, 200);
}

TEST_F(HttpServerTest, ABodyOfUnknownLengthIs411) {
  std::string r = Fetch(port(), "POST /echo HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 411")) << r;
  r = Fetch(port(), "POST /echo HTTP/1.1", "Content-Length: 12x\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 400")) << r;
}

TEST_F(HttpServerTest, AHalfSentBodyIsCutOffAtTheRequestTimeout) {
  Fd fd = Connect(port());
  const auto start = steady_clock::now();
  Send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf");
  std::string r = ReadAll(fd);
  const auto took = steady_clock::now() - start;
  EXPECT_FALSE(Has(r, "timed out")) << r;
  EXPECT_FALSE(Has(r, "got")) << r;
  // request_timeout 1 s, looked at every second.
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST_F(HttpServerTest, AHeaderTrickleIsCutOffWhileOthersAreServed) {
  Fd slow = Connect(port());
  Send(slow, "GET /metrics HTTP/1.1\r\n");
  const auto start = steady_clock::now();
  std::string r;
  // A header line every 200 ms never finishes the request; the timeout counts from its start.
  while (steady_clock::now() - start < std::chrono::seconds(5)) {
    pollfd p{slow.get(), POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) break;
    Send(slow, "X-Slow: 1\r\n");
    EXPECT_TRUE(Has(Fetch(port(), "GET /metrics HTTP/1.1"), "200 OK"));
  }
  r = ReadAll(slow, milliseconds(100));
  EXPECT_FALSE(Has(r, "timed out")) << "the trickle was not cut off";
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(HttpServerTest, KeepAliveConnectionsServeSeveralRequests) {
  Fd fd = Connect(port());
  Send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = ReadUntil(fd, "m 1\n");
  Send(fd, "GET /checks/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  r += ReadAll(fd);
  EXPECT_TRUE(Has(r, "m 1\n")) << r;
  EXPECT_TRUE(r.ends_with("check a\n")) << r;
}

TEST(HttpServer, IdleConnectionsDoNotDelayOthers) {
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  options.max_connections_per_peer = 2000;
  options.max_connections = 2000;
  auto server = HttpServer::Start(options, {{"/-/healthy", {"GET"}, [](const HttpRequest&) {
                                               return HttpResponse::Text(200, "Healthy");
                                             }}});
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::vector<Fd> idle;
  for (int i = 0; i < 1000; ++i) idle.push_back(Connect((*server)->port()));
  const auto start = steady_clock::now();
  EXPECT_TRUE(Has(Fetch((*server)->port(), "GET /-/healthy HTTP/1.1"), "Healthy"));
  EXPECT_LT(steady_clock::now() - start, milliseconds(500));
}

TEST(HttpServer, ConnectionsPastThePerPeerLimitAreClosedAtOnce) {
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  options.max_connections_per_peer = 3;
  auto open = std::make_shared<OpenConnections>();
  auto server =
      HttpServer::Start(options,
                        {{"/-/healthy",
                          {"GET"},
                          [](const HttpRequest&) { return HttpResponse::Text(200, "Healthy"); }}},
                        nullptr, open);
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::vector<Fd> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect((*server)->port()));
  ASSERT_TRUE(open->WaitFor(3)) << "the server did not accept the three";
  Fd extra = Connect((*server)->port());
  Send(extra, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ReadAll(extra), "") << "closed without an answer";
  held.pop_back();
  ASSERT_TRUE(open->WaitFor(2)) << "the server did not notice a close";
  EXPECT_TRUE(Has(Fetch((*server)->port(), "GET /-/healthy HTTP/1.1"), "Healthy"));
}

TEST(HttpServer, BlockingHandlersRunOnWorkersWhileTheLoopServes) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int waiting = 0;  // guarded by mu
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  options.max_workers = 4;
  std::vector<Route> routes;
  routes.push_back({"/wait",
                    {"GET"},
                    [&](const HttpRequest&) {
                      std::unique_lock lock(mu);
                      ++waiting;
                      cv.notify_all();
                      cv.wait(lock, [&] { return release; });
                      return HttpResponse::Text(200, "released");
                    },
                    /*may_block=*/true});
  routes.push_back({"/-/healthy", {"GET"}, [](const HttpRequest&) {
                      return HttpResponse::Text(200, "Healthy");
                    }});
  auto server = HttpServer::Start(options, std::move(routes));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int port = (*server)->port();
  std::vector<std::string> answers(6);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    clients.emplace_back([&, i] { answers[i] = Fetch(port, "GET /wait HTTP/1.1"); });
  }
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return waiting == 4; }))
        << "the four workers did not all start";
  }
  // Every worker waits; the loop still answers.
  EXPECT_TRUE(Has(Fetch(port, "GET /-/healthy HTTP/1.1"), "Healthy"));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (std::thread& t : clients) t.join();
  for (const std::string& a : answers) EXPECT_TRUE(a.ends_with("released\n")) << a;
}

TEST(HttpServer, BasicAuthGuardsEveryRoute) {
  auto web = std::make_shared<WebConfig>();
  // htpasswd -nbBC 4 alice secret
  web->basic_auth_users["alice"] = "$2y$04$CNQoEQNN9C3hyec55qOL1.klGeDfthv4sOuu9EwCHOGbDWpYhIQ/6";
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  std::vector<Route> routes;
  routes.push_back({"/who", {"GET"}, [](const HttpRequest& req) {
                      return HttpResponse::Text(200, "user " + req.identity.user);
                    }});
  Route admin{"/admin", {"GET"}, [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); }};
  admin.allowed = {"bob"};
  routes.push_back(admin);
  auto server = HttpServer::Start(options, std::move(routes), web);
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int port = (*server)->port();
  std::string r = Fetch(port, "GET /who HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 401")) << r;
  EXPECT_TRUE(Has(r, "WWW-Authenticate: Basic")) << r;
  EXPECT_FALSE(Has(r, "user")) << r;
  // 401 before 404: an unauthenticated client learns nothing of the routes.
  EXPECT_TRUE(Has(Fetch(port, "GET /nope HTTP/1.1"), "HTTP/1.1 401"));
  // alice:wrong, bob:secret (no such user), alice:secret.
  EXPECT_TRUE(Has(Fetch(port, "GET /who HTTP/1.1", "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"),
                  "HTTP/1.1 401"));
  EXPECT_TRUE(Has(Fetch(port, "GET /who HTTP/1.1", "Authorization: Basic Ym9iOnNlY3JldA==\r\n"),
                  "HTTP/1.1 401"));
  for (int i = 0; i < 2; ++i) {  // verified, then cached
    r = Fetch(port, "GET /who HTTP/1.1", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n");
    EXPECT_TRUE(r.ends_with("user alice\n")) << r;
  }
  r = Fetch(port, "GET /admin HTTP/1.1", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 403")) << r;
  EXPECT_TRUE(Has(r, "user \"alice\" may not call /admin")) << r;
  // Two Authorization headers, one good: which would count depends on who reads, so neither.
  r = Fetch(port, "GET /who HTTP/1.1",
            "Authorization: Basic YWxpY2U6c2VjcmV0\r\nauthorization: Basic Ym9iOnNlY3JldA==\r\n");
  EXPECT_TRUE(Has(r, "HTTP/1.1 400")) << r;
  EXPECT_TRUE(Has(r, "more than one Authorization header")) << r;
}

TEST(HttpServer, WebConfigHeadersAreOnEveryResponse) {
  auto web = std::make_shared<WebConfig>();
  web->headers = {{"X-Frame-Options", "deny"}};
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  auto server = HttpServer::Start(options, std::vector<Route>{}, web);
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::string r = Fetch((*server)->port(), "GET /nope HTTP/1.1");
  EXPECT_TRUE(Has(r, "HTTP/1.1 404")) << r;
  EXPECT_TRUE(Has(r, "X-Frame-Options: deny")) << r;
}

TEST(HttpServer, PortInUseIsAClearError) {
  HttpOptions options;
  options.listen_address = "127.0.0.1:0";
  auto first = HttpServer::Start(options, std::vector<Route>{});
  ASSERT_TRUE(first.ok());
  options.listen_address = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpServer::Start(options, std::vector<Route>{});
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(
      second.error().message.starts_with("cannot listen on " + options.listen_address + ": "))
      << second.error().message;
  EXPECT_TRUE(Has(second.error().message, "Address already in use")) << second.error().message;
}

TEST(ParseListenAddress, TakesGoStyleAddresses) {
  EXPECT_EQ(ParseListenAddress(":9968")->host, "");
  EXPECT_EQ(ParseListenAddress(":9968")->port, 9968);
  EXPECT_EQ(ParseListenAddress("127.0.0.1:9968")->host, "127.0.0.1");
  EXPECT_EQ(ParseListenAddress("localhost:1")->host, "127.0.0.1");
  EXPECT_EQ(ParseListenAddress("[::1]:9968")->host, "::1");
  EXPECT_EQ(ParseListenAddress("9968").error().message,
            "invalid listen address \"9968\"; expected host:port, [ipv6]:port or :port");
  EXPECT_EQ(ParseListenAddress("host:99999").error().message,
            "invalid port in listen address \"host:99999\"; expected 0 to 65535");
  EXPECT_EQ(ParseListenAddress("example.com:80").error().message,
            "invalid listen address \"example.com:80\"; use an IP address, not a host name");
  EXPECT_EQ(ParseListenAddress("[zz]:80").error().message, "invalid listen address \"[zz]:80\"");
}

TEST(ExternalUrl, DefaultsToTheAddressListenedOn) {
  // Listening on one address: that address, never the host name people cannot reach it by.
  EXPECT_EQ(*ExternalUrl("", "127.0.0.1:9968", "vm"), "http://127.0.0.1:9968");
  EXPECT_EQ(*ExternalUrl("", "[::1]:9100", "vm"), "http://[::1]:9100");
  EXPECT_EQ(*ExternalUrl("", "localhost:9968", "vm"), "http://localhost:9968");
  EXPECT_EQ(*ExternalUrl("", "10.1.2.3:9968", "vm"), "http://10.1.2.3:9968");
  EXPECT_EQ(*ExternalUrl("", "10.1.2.3:9968", "vm", /*tls=*/true), "https://10.1.2.3:9968");
  // Listening on every address: the host name.
  EXPECT_EQ(*ExternalUrl("", ":9968", "web1"), "http://web1:9968");
  EXPECT_EQ(*ExternalUrl("", "0.0.0.0:9968", "web1"), "http://web1:9968");
  EXPECT_EQ(*ExternalUrl("", "[::]:9968", "web1"), "http://web1:9968");
  EXPECT_EQ(ExternalUrl("", "9968", "web1").error().message,
            "invalid listen address \"9968\"; expected host:port, [ipv6]:port or :port");
}

TEST(ExternalUrl, TheFlagWinsAndIsChecked) {
  EXPECT_EQ(*ExternalUrl("https://web1.example.com/drift/", "127.0.0.1:9968", "vm"),
            "https://web1.example.com/drift");
  EXPECT_EQ(ExternalUrl("web1:9968", ":9968", "vm").error().message,
            "--web.external-url \"web1:9968\" must start with http:// or https://");
  EXPECT_EQ(ExternalUrl("http://web1:9968/?x=1", ":9968", "vm").error().message,
            "--web.external-url \"http://web1:9968/?x=1\" must not have a query or fragment");
  EXPECT_EQ(ExternalUrl("http://u:p@web1:9968", ":9968", "vm").error().message,
            "--web.external-url must not contain credentials");
}

TEST(RouteRequest, RoutesWithoutAServer) {
  std::vector<Route> routes = {
      {"/checks/", {"GET"}, [](const HttpRequest& r) { return HttpResponse::Text(200, r.path); }},
      {"/-/reload", {"POST"}, [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); }}};
  auto answer = [&](std::string method, std::string path) {
    HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    return RouteRequest(routes, req);
  };
  EXPECT_EQ(answer("HEAD", "/checks/fw").body, "/checks/fw\n");
  EXPECT_EQ(answer("GET", "/checks/").status, 404) << "a prefix route needs a name after it";
  EXPECT_EQ(FindRoute(routes, "/checks"), nullptr);
  HttpResponse wrong = answer("GET", "/-/reload");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers, (std::vector<std::pair<std::string, std::string>>{{"Allow", "POST"}}));
  EXPECT_EQ(answer("POST", "/checks/x").headers.front().second, "GET, HEAD");
}

TEST(RefuseRequest, AllowedNamesUsersOrCertificateSans) {
  Route route{"/approve", {"POST"}, nullptr};
  route.allowed = {"alice", "oncall.example.com"};
  HttpRequest req;
  req.method = "POST";
  req.path = "/approve";
  EXPECT_EQ(RefuseRequest(&route, req)->status, 403);
  req.identity.user = "alice";
  EXPECT_FALSE(RefuseRequest(&route, req));
  req.identity.user = "";
  req.identity.certificate = std::make_shared<ClientCertificate>(
      ClientCertificate{"CN=pager", {"pager.example.com", "oncall.example.com"}});
  EXPECT_FALSE(RefuseRequest(&route, req));
  route.allowed = {"someone-else"};
  EXPECT_EQ(RefuseRequest(&route, req)->body, "this client may not call /approve\n");
}

TEST(HttpRequest, HeadersAreFoundWhateverTheirCase) {
  HttpRequest req;
  req.headers = {{"Accept-Encoding", "gzip"}, {"X-Prometheus-Scrape-Timeout-Seconds", "10"}};
  EXPECT_EQ(req.Header("accept-encoding"), "gzip");
  EXPECT_EQ(req.Header("X-PROMETHEUS-SCRAPE-TIMEOUT-SECONDS"), "10");
  EXPECT_EQ(req.Header("Authorization"), std::nullopt);
}

}  // namespace
}  // namespace drift::exporter
