// What the HTTP server and its handlers read from a request (exporter/http_server.h, app.h):
// the route for a decoded path and method (404, 405 with Allow, HEAD as GET), the check name of
// /checks/<name> and its page or 404, the Authorization header (basic auth), and the
// X-Prometheus-Scrape-Timeout-Seconds header. Also the listen address and external URL flags.
//
// Input: fields separated by LF: method, path, Authorization header, listen address, scrape
// timeout header, hostname. A missing field is an absent header. Properties: each answer is 200,
// 404 or 405 as the route table says, a 405 names the allowed methods, a header is not taken as
// credentials without a password check, a scrape budget is at least 0.1s and finite.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checks/registry.h"
#include "exporter/app.h"
#include "exporter/basic_auth.h"
#include "exporter/http_server.h"
#include "tests/fuzz/fuzz_check.h"

using drift::fuzz::Expect;
namespace ex = drift::exporter;

namespace {

const drift::WallTime kNow = drift::WallTime(std::chrono::seconds(1'722'513'600));

// One check that has not run yet: its page is rendered for /checks/fw.
const ex::Snapshot& OneCheck() {
  static const ex::Snapshot snapshot = [] {
    auto spec = std::make_shared<ex::CheckSpec>();
    spec->name = "fw";
    spec->type = drift::checks::FindCheckType("firewall");
    spec->recommended_action = "restore_firewall_rules";
    auto state = std::make_shared<ex::CheckState>();
    state->spec = std::move(spec);
    ex::Snapshot s;
    s.checks.push_back(std::move(state));
    return s;
  }();
  return snapshot;
}

// The exporter's routes (App::Routes), with handlers that answer without an App behind them.
const std::vector<ex::Route>& Routes() {
  static const std::vector<ex::Route> routes = [] {
    auto ok = [](const ex::HttpRequest&) { return ex::HttpResponse::Text(200, "ok"); };
    std::vector<ex::Route> r;
    r.push_back({"/metrics", {"GET"}, ok});
    r.push_back({"/", {"GET"}, ok});
    r.push_back({"/checks/", {"GET"}, [](const ex::HttpRequest& req) {
                   return ex::CheckPageResponse(OneCheck(), std::string_view(req.path).substr(8),
                                                kNow);
                 }});
    r.push_back({"/-/healthy", {"GET"}, ok});
    r.push_back({"/-/ready", {"GET"}, ok});
    r.push_back({"/-/reload", {"POST"}, ok});
    return r;
  }();
  return routes;
}

// The next LF-terminated field of `input`, or nullopt when there is none left.
std::optional<std::string_view> Field(std::string_view& input, bool& more) {
  if (!more) return std::nullopt;
  std::size_t lf = input.find('\n');
  std::string_view field = input.substr(0, lf);
  if (lf == std::string_view::npos) {
    more = false;
    input = {};
  } else {
    input.remove_prefix(lf + 1);
  }
  return field;
}

void CheckRoute(std::string_view method, std::string_view path) {
  ex::HttpRequest req;
  req.method = std::string(method);
  req.path = std::string(path);
  const ex::HttpResponse resp = ex::RouteRequest(Routes(), req);
  const ex::Route* route = ex::FindRoute(Routes(), path);
  if (route == nullptr) {
    Expect(resp.status == 404, "a path without a route is not answered 404");
    return;
  }
  const bool get = method == "GET" || method == "HEAD";
  const bool allowed = route->methods.front() == (get ? std::string_view("GET") : method);
  if (!allowed) {
    Expect(resp.status == 405 && !resp.headers.empty() && resp.headers.front().first == "Allow",
           "a method the route does not take is not answered 405 with Allow");
    return;
  }
  const bool found = route->path != "/checks/" || path == "/checks/fw";
  Expect(resp.status == (found ? 200 : 404), "a routed request has an unexpected status");
  Expect(!resp.body.empty(), "a response without a body");
}

// A user whose password check always fails: nothing may authenticate as it.
void CheckBasicAuth(std::string_view authorization) {
  static ex::BasicAuth auth(
      {{"alice", "$2y$04$CNQoEQNN9C3hyec55qOL1.klGeDfthv4sOuu9EwCHOGbDWpYhIQ/6"}},
      {.cache_entries = 4, .verify = [](std::string_view, const std::string&) { return false; }});
  const ex::BasicAuth::Decision d = auth.Lookup(authorization);
  Expect(d.outcome != ex::BasicAuth::Outcome::kAuthenticated,
         "credentials accepted without a password check");
  if (d.outcome == ex::BasicAuth::Outcome::kNeedsVerify) {
    Expect(!auth.Verify(authorization), "credentials accepted that the check refused");
  }
}

void CheckScrapeBudget(std::optional<std::string_view> header) {
  const std::chrono::steady_clock::duration budget = ex::ScrapeBudget(header);
  Expect(budget >= std::chrono::milliseconds(99), "a scrape budget below 0.1s");
  Expect(budget <= std::chrono::hours(24 * 366), "a scrape budget beyond a year");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool more = true;
  const std::string_view method = Field(input, more).value_or("GET");
  const std::string_view path = Field(input, more).value_or("/");
  const std::optional<std::string_view> authorization = Field(input, more);
  const std::string_view address = Field(input, more).value_or(":9968");
  const std::optional<std::string_view> timeout = Field(input, more);
  const std::string_view hostname = Field(input, more).value_or("web-1");

  CheckRoute(method, path);
  CheckBasicAuth(authorization.value_or(""));
  CheckScrapeBudget(timeout);
  (void)ex::ParseListenAddress(address);
  (void)ex::ExternalUrl(method, address, hostname);
  return 0;
}
