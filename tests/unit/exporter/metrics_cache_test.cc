#include "exporter/metrics_cache.h"

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/gunzip.h"

namespace drift::exporter {
namespace {

using namespace std::chrono_literals;

// A collector that counts its calls, returns one gauge per name in `names` all set to the
// number of the call, and can be made to block (a slow render) until released.
class FakeCollector final : public prometheus::Collectable {
 public:
  explicit FakeCollector(int series = 1) : series_(series) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    int call = ++calls_;
    {
      std::unique_lock lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !blocked_; });
    }
    prometheus::MetricFamily f;
    f.name = "drift_test_calls";
    f.help = "Calls.";
    f.type = prometheus::MetricType::Gauge;
    for (int i = 0; i < series_; ++i) {
      prometheus::ClientMetric m;
      m.label = {{"i", std::to_string(i)}};
      m.gauge.value = call;
      f.metric.push_back(std::move(m));
    }
    return {f};
  }
  int calls() const { return calls_.load(); }
  void Block() {
    std::lock_guard lock(mu_);
    blocked_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  // Waits until Collect has been entered `n` times in all; false after 5 s.
  bool WaitEntered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return entered_ >= n; });
  }

 private:
  const int series_;
  mutable std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool blocked_ = false;
};

// Get() (which asks for a render if the body needs one), then waits until the render thread
// has published a body other than `old`, for at most 10 s of real time.
std::shared_ptr<const MetricsBody> NextBody(MetricsCache& cache,
                                            const std::shared_ptr<const MetricsBody>& old) {
  std::shared_ptr<const MetricsBody> body = cache.Get();
  return body != old ? body : cache.AwaitReplaced(old);
}

TEST(MetricsCache, RendersNewResultsAtMostOncePerMinInterval) {
  testing::FakeMonotonicClock clock;
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache(
      {collector}, [&] { return version.load(); },
      {.min_interval = 200ms, .refresh_after = 1h, .max_age = 2h}, clock);
  auto first = cache.Get();
  EXPECT_EQ(first->text,
            "# HELP drift_test_calls Calls.\n# TYPE drift_test_calls gauge\n"
            "drift_test_calls{i=\"0\"} 1\n");
  EXPECT_EQ(cache.Get(), first) << "same version: the cached body is shared";
  version = 2;
  EXPECT_EQ(cache.Get(), first) << "new results within min_interval wait for the next render";
  clock.Advance(199ms);
  EXPECT_EQ(cache.Get(), first) << "still within min_interval";
  EXPECT_EQ(collector->calls(), 1);
  clock.Advance(1ms);
  auto second = NextBody(cache, first);
  EXPECT_NE(second, first);
  EXPECT_NE(second->text.find("drift_test_calls{i=\"0\"} 2\n"), std::string::npos) << second->text;
  clock.Advance(50ms);
  EXPECT_EQ(cache.Get(), second) << "no new results: no new render";
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, ARenderInProgressDoesNotBlockReaders) {
  testing::FakeMonotonicClock clock;
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache(
      {collector}, [&] { return version.load(); },
      {.min_interval = 1ms, .refresh_after = 1h, .max_age = 2h}, clock);
  auto first = cache.Get();
  collector->Block();
  // Should a reader wait for the render, the render is released after 2 s: the test fails
  // rather than hangs.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool readers_done = false;
  std::thread unblock([&] {
    {
      std::unique_lock lock(done_mu);
      done_cv.wait_for(lock, 2s, [&] { return readers_done; });
    }
    collector->Release();
  });
  version = 2;
  clock.Advance(5ms);
  EXPECT_EQ(cache.Get(), first);  // asks for a render
  ASSERT_TRUE(collector->WaitEntered(2)) << "the render thread renders on its own";
  // The render is stuck in Collect; readers on other threads get the old body at once.
  std::vector<std::thread> readers;
  std::atomic<int> served_old{0};
  std::atomic<long> slowest_us{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto body = cache.Get();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        long seen = slowest_us.load();
        while (us > seen && !slowest_us.compare_exchange_weak(seen, us)) {
        }
        if (body == first) ++served_old;
      }
    });
  }
  for (auto& r : readers) r.join();
  {
    std::lock_guard lock(done_mu);
    readers_done = true;
  }
  done_cv.notify_all();
  unblock.join();
  EXPECT_EQ(served_old.load(), 200);
  EXPECT_LT(slowest_us.load(), 50'000) << "a reader waited for the render";
  EXPECT_EQ(collector->calls(), 2) << "one render at a time, however many readers ask";
  auto second = NextBody(cache, first);
  EXPECT_NE(second->text.find("} 2\n"), std::string::npos) << second->text;
}

TEST(MetricsCache, ABodyIsNeverMixed) {
  // 200 series per body, all holding the number of the render that produced them: a body that
  // mixed two renders, or changed after being returned, would show two numbers. Its gzip form
  // must inflate to exactly its text: the same render, compressed once.
  testing::FakeMonotonicClock clock;
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>(200);
  MetricsCache cache(
      {collector}, [&] { return version.fetch_add(1); },
      {.min_interval = 0ms, .refresh_after = 0ms, .max_age = 1h}, clock);
  std::atomic<bool> mixed{false};
  std::atomic<int> gzip_mismatched{0};
  std::atomic<bool> replacing_done{false};
  std::latch readers_started(4);
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      // At least 300 reads each, and on until the bodies have been replaced ten times.
      for (int i = 0; i < 300 || !replacing_done.load(); ++i) {
        auto body = cache.Get();
        if (i == 0) readers_started.count_down();
        if (testing::Gunzip(body->gzip) != body->text) ++gzip_mismatched;
        std::string copy = body->text;
        std::set<std::string> values;
        for (std::size_t at = copy.find("} "); at != std::string::npos;
             at = copy.find("} ", at + 1)) {
          values.insert(copy.substr(at + 2, copy.find('\n', at) - at - 2));
        }
        if (values.size() != 1) mixed = true;
      }
    });
  }
  // Bodies replaced while the readers read: each Invalidate() makes the next Get() wait for a
  // new render, so at least ten renders happen, however the threads are scheduled.
  readers_started.wait();
  for (int i = 0; i < 10; ++i) {
    cache.Invalidate();
    cache.Get();
  }
  replacing_done = true;
  for (auto& r : readers) r.join();
  EXPECT_FALSE(mixed.load());
  EXPECT_EQ(gzip_mismatched.load(), 0);
  std::shared_ptr<const MetricsBody> body = cache.Get();
  EXPECT_LT(body->gzip.size(), body->text.size() / 4) << "200 alike series compress well";
  EXPECT_GT(collector->calls(), 2) << "bodies were replaced while read";
}

TEST(MetricsCache, ATooOldBodyIsNotServed) {
  testing::FakeMonotonicClock clock;
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache(
      {collector}, [] { return std::uint64_t{1}; },
      {.min_interval = 1ms, .refresh_after = 40ms, .max_age = 80ms}, clock);
  auto first = cache.Get();
  clock.Advance(100ms);
  auto started = std::chrono::steady_clock::now();
  auto second = cache.Get();
  EXPECT_NE(second, first) << "older than max_age: the request waits for a new body";
  EXPECT_EQ(collector->calls(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(MetricsCache, AnAgeingBodyIsRenewedBeforeItIsTooOld) {
  testing::FakeMonotonicClock clock;
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache(
      {collector}, [] { return std::uint64_t{1}; },
      {.min_interval = 1ms, .refresh_after = 50ms, .max_age = 10s}, clock);
  auto first = cache.Get();
  clock.Advance(60ms);
  EXPECT_EQ(cache.Get(), first) << "served while renewed in the background";
  EXPECT_NE(NextBody(cache, first), first);
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, InvalidateMakesTheNextGetWaitForANewBody) {
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [] { return std::uint64_t{1}; },
                     {.min_interval = 1h, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  cache.Invalidate();
  auto second = cache.Get();
  EXPECT_NE(second, first);
  EXPECT_NE(second->text.find("} 2\n"), std::string::npos) << second->text;
  EXPECT_EQ(cache.Get(), second);
}

TEST(MetricsCache, MinVersionWaitsForABodyThatShowsIt) {
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [&] { return version.load(); },
                     {.min_interval = 1h, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  version = 2;
  EXPECT_EQ(cache.Get(), first);
  EXPECT_EQ(cache.Get(1), first) << "already shows version 1";
  auto second = cache.Get(2);
  EXPECT_NE(second, first) << "on_scrape: the scrape shows the run it waited for";
  EXPECT_NE(second->text.find("} 2\n"), std::string::npos) << second->text;
  EXPECT_EQ(cache.Get(2), second);
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, DestructorWaitsForARenderInProgress) {
  testing::FakeMonotonicClock clock;
  auto collector = std::make_shared<FakeCollector>();
  std::atomic<std::uint64_t> version{1};
  auto cache = std::make_unique<MetricsCache>(
      std::vector<std::shared_ptr<prometheus::Collectable>>{collector},
      [&] { return version.load(); },
      MetricsCache::Timing{.min_interval = 1ms, .refresh_after = 1h, .max_age = 2h}, clock);
  cache->Get();
  collector->Block();
  version = 2;
  clock.Advance(5ms);
  cache->Get();
  ASSERT_TRUE(collector->WaitEntered(2));
  // The render is released as the destruction begins (the destructor says nothing when it
  // waits, so this is the closest event; should the release win the race, the render has
  // finished before the destructor ran, and the test still holds).
  std::latch destroying(1);
  std::thread releaser([&] {
    destroying.wait();
    collector->Release();
  });
  destroying.count_down();
  cache.reset();  // returns once the render has finished; the render used nothing freed
  releaser.join();
  EXPECT_EQ(collector->calls(), 2);
}

// GzipMetrics, counting its calls.
class CountingCompress {
 public:
  MetricsCache::Compress Function() {
    return [this](std::string_view text) {
      ++calls_;
      return GzipMetrics(text);
    };
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
};

TEST(MetricsCache, CompressesOncePerRenderHoweverManyRequests) {
  testing::FakeMonotonicClock clock;
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  CountingCompress compress;
  MetricsCache cache(
      {collector}, [&] { return version.load(); },
      {.min_interval = 1ms, .refresh_after = 1h, .max_age = 2h}, clock, compress.Function());
  auto first = cache.Get();
  // 400 gzip requests from four threads, all served from the first render.
  std::vector<std::thread> requests;
  std::atomic<int> gzip_served{0};
  for (int t = 0; t < 4; ++t) {
    requests.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        EncodedBody sent = SelectEncoding(cache.Get(), "gzip");
        if (sent.coding == ContentCoding::kGzip) ++gzip_served;
      }
    });
  }
  for (auto& r : requests) r.join();
  EXPECT_EQ(gzip_served.load(), 400);
  EXPECT_EQ(collector->calls(), 1);
  EXPECT_EQ(compress.calls(), 1) << "compressed once for 401 requests";
  // A second render: one more compression, on the render thread.
  version = 2;
  clock.Advance(5ms);
  auto second = NextBody(cache, first);
  for (int i = 0; i < 100; ++i) SelectEncoding(cache.Get(), "gzip");
  EXPECT_EQ(collector->calls(), 2);
  EXPECT_EQ(compress.calls(), 2);
  EXPECT_EQ(testing::Gunzip(second->gzip), second->text);
}

TEST(MetricsCache, ABodyThatCannotBeCompressedIsServedAsText) {
  std::atomic<bool> fail{true};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache(
      {collector}, [] { return std::uint64_t{1}; },
      {.min_interval = 1h, .refresh_after = 1h, .max_age = 2h}, SteadyClock::Get(),
      [&](std::string_view text) -> Result<std::string> {
        if (fail) return Err("gzip: deflate: insufficient memory");
        return GzipMetrics(text);
      });
  auto body = cache.Get();
  EXPECT_NE(body->text.find("drift_test_calls"), std::string::npos);
  EXPECT_EQ(body->gzip, "");
  EncodedBody sent = SelectEncoding(body, "gzip");
  EXPECT_EQ(sent.coding, ContentCoding::kIdentity) << "the scrape still gets its body";
  EXPECT_EQ(sent.bytes.get(), &body->text);
  // Compression works again: the next render has its gzip body.
  fail = false;
  cache.Invalidate();
  body = cache.Get();
  EXPECT_EQ(testing::Gunzip(body->gzip), body->text);
}

TEST(SelectEncoding, PicksTheBodyTheRequestAccepts) {
  auto body = std::make_shared<const MetricsBody>(
      MetricsBody{"drift_checks 1\n", *GzipMetrics("drift_checks 1\n")});
  struct Case {
    std::optional<std::string_view> accept_encoding;
    ContentCoding coding;
  };
  const Case cases[] = {
      {"gzip", ContentCoding::kGzip},
      {"deflate, gzip;q=0.5", ContentCoding::kGzip},
      {std::nullopt, ContentCoding::kIdentity},
      {"gzip;q=0", ContentCoding::kIdentity},
      {"br", ContentCoding::kIdentity},
      // Nothing acceptable: the text anyway, as promhttp sends, rather than a failed scrape.
      {"identity;q=0", ContentCoding::kIdentity},
      {"*;q=0", ContentCoding::kIdentity},
  };
  for (const Case& c : cases) {
    std::string header = c.accept_encoding ? std::string(*c.accept_encoding) : "(none)";
    EncodedBody sent = SelectEncoding(body, c.accept_encoding);
    EXPECT_EQ(ContentCodingName(sent.coding), ContentCodingName(c.coding)) << header;
    EXPECT_EQ(sent.bytes.get(), c.coding == ContentCoding::kGzip ? &body->gzip : &body->text)
        << header << ": the body's own bytes, not a copy";
  }
  // The bytes keep the body they belong to alive.
  EncodedBody sent = SelectEncoding(body, "gzip");
  std::weak_ptr<const MetricsBody> weak = body;
  body.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(testing::Gunzip(*sent.bytes), "drift_checks 1\n");
  sent.bytes.reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace drift::exporter
