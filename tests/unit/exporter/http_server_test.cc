#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace drift::exporter {
namespace {

// A minimal HTTP/1.0 client: the test needs status lines and bodies, not a library.
std::string Fetch(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string req = request + "\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// One server for the suite: civetweb takes about two seconds to stop.
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
    routes.push_back({"/-/reload", {"POST"}, [](const HttpRequest&) {
                        return HttpResponse::Text(200, "reloaded");
                      }});
    auto server = HttpServer::Start({"127.0.0.1:0", 4}, std::move(routes));
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<HttpServer> HttpServerTest::server_;

TEST_F(HttpServerTest, ServesRoutesAndPrefixes) {
  std::string r = Fetch(server_->port(), "GET /metrics HTTP/1.1");
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("Content-Length: 4"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\nm 1\n")) << r;
  r = Fetch(server_->port(), "GET /checks/fire%20wall HTTP/1.1");
  EXPECT_TRUE(r.ends_with("check fire wall\n")) << r;
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  std::string r = Fetch(server_->port(), "POST /metrics HTTP/1.1");
  EXPECT_NE(r.find("HTTP/1.1 405"), std::string::npos) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos) << r;
  r = Fetch(server_->port(), "GET /-/reload HTTP/1.1");
  EXPECT_NE(r.find("HTTP/1.1 405"), std::string::npos) << r;
  EXPECT_NE(r.find("Allow: POST"), std::string::npos) << r;
}

TEST_F(HttpServerTest, UnknownPathsAre404AndNoFilesAreServed) {
  for (const char* path : {"/nope", "/checks/", "/etc/passwd", "/../../etc/passwd"}) {
    std::string r = Fetch(server_->port(), std::string("GET ") + path + " HTTP/1.1");
    EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos) << path << ": " << r;
  }
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  std::string r = Fetch(server_->port(), "HEAD /metrics HTTP/1.1");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\n")) << r;
}

TEST(HttpServer, PortInUseIsAClearError) {
  auto first = HttpServer::Start({"127.0.0.1:0", 2}, {});
  ASSERT_TRUE(first.ok());
  const std::string address = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpServer::Start({address, 2}, {});
  ASSERT_FALSE(second.ok());
  // The errno text civetweb logs, not its generic "Failed to setup server ports".
  EXPECT_EQ(second.error().message, "cannot listen on " + address + ": cannot bind to " + address +
                                        ": 98 (Address already in use)");
}

TEST(CivetListenSpec, TranslatesGoStyleAddresses) {
  EXPECT_EQ(*CivetListenSpec(":9968"), "+9968");
  EXPECT_EQ(*CivetListenSpec("127.0.0.1:9968"), "127.0.0.1:9968");
  EXPECT_EQ(*CivetListenSpec("localhost:1"), "127.0.0.1:1");
  EXPECT_EQ(*CivetListenSpec("[::1]:9968"), "[::1]:9968");
  EXPECT_EQ(CivetListenSpec("9968").error().message,
            "invalid listen address \"9968\"; expected host:port, [ipv6]:port or :port");
  EXPECT_EQ(CivetListenSpec("host:99999").error().message,
            "invalid port in listen address \"host:99999\"; expected 0 to 65535");
  EXPECT_EQ(CivetListenSpec("example.com:80").error().message,
            "invalid listen address \"example.com:80\"; use an IP address, not a host name");
}

TEST(ExternalUrl, DefaultsToTheAddressListenedOn) {
  // Listening on one address: that address, never the host name people cannot reach it by.
  EXPECT_EQ(*ExternalUrl("", "127.0.0.1:9968", "vm"), "http://127.0.0.1:9968");
  EXPECT_EQ(*ExternalUrl("", "[::1]:9100", "vm"), "http://[::1]:9100");
  EXPECT_EQ(*ExternalUrl("", "localhost:9968", "vm"), "http://localhost:9968");
  EXPECT_EQ(*ExternalUrl("", "10.1.2.3:9968", "vm"), "http://10.1.2.3:9968");
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

TEST(KeepAliveRequested, FollowsTheConnectionHeaderElseTheVersion) {
  EXPECT_TRUE(KeepAliveRequested(std::nullopt, "1.1"));
  EXPECT_FALSE(KeepAliveRequested(std::nullopt, "1.0"));
  EXPECT_TRUE(KeepAliveRequested(" Upgrade ,\tKeep-Alive ", "1.0"));
  EXPECT_FALSE(KeepAliveRequested("close", "1.1"));
  EXPECT_FALSE(KeepAliveRequested("", "1.1"));
  EXPECT_FALSE(KeepAliveRequested("keep-alives", "1.1"));
}

}  // namespace
}  // namespace drift::exporter
