#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "tests/support/fake_monotonic_clock.h"

namespace drift {
namespace {

using namespace std::chrono_literals;

TEST(FakeMonotonicClockTest, AWaiterWakesOnlyWhenTimeReachesItsDeadline) {
  testing::FakeMonotonicClock clock;
  Mutex mu;
  CondVar cv;
  std::atomic<bool> timed_out{false};
  const Deadline deadline = clock.Now() + 30s;
  std::thread waiter([&] {
    MutexLock lock(mu);
    while (clock.WaitUntil(cv, mu, deadline)) {
    }
    timed_out = true;
  });
  ASSERT_TRUE(clock.AwaitWaits(1));
  clock.Advance(29s);
  ASSERT_TRUE(clock.AwaitWaits(2)) << "woken, found its deadline ahead, waits again";
  EXPECT_FALSE(timed_out);
  clock.Advance(1s);
  waiter.join();
  EXPECT_TRUE(timed_out);
  EXPECT_GE(clock.waits(), 2u);
}

TEST(FakeMonotonicClockTest, ANotifiedWaiterReportsTheDeadlineAhead) {
  testing::FakeMonotonicClock clock;
  Mutex mu;
  CondVar cv;
  bool ready = false;
  std::thread waiter([&] {
    MutexLock lock(mu);
    while (!ready) EXPECT_TRUE(clock.WaitUntil(cv, mu, clock.Now() + 1h));
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  {
    MutexLock lock(mu);
    ready = true;
  }
  cv.NotifyAll();
  waiter.join();
}

TEST(FakeMonotonicClockTest, APassedDeadlineDoesNotWait) {
  testing::FakeMonotonicClock clock;
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  EXPECT_FALSE(clock.WaitUntil(cv, mu, clock.Now()));
  EXPECT_EQ(clock.waits(), 0u);
}

TEST(SteadyClockTest, WaitsOnTheRealClock) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  const auto& clock = SteadyClock::Get();
  const Deadline start = clock.Now();
  EXPECT_FALSE(clock.WaitUntil(cv, mu, start + 1ms));
  EXPECT_GE(clock.Now() - start, 1ms);
}

}  // namespace
}  // namespace drift
