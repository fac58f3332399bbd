#include "operator/notify/dispatcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "operator/notify/signing.h"
#include "tests/support/operator_harness.h"

namespace kubegrant::notify {
namespace {

using namespace std::chrono_literals;

const std::string kKey = "0123456789abcdef0123456789abcdef";

// Answers from a script (then 200), records every POST.
class ScriptedPoster final : public Poster {
 public:
  struct Post {
    std::string url, body;
    Headers headers;
    std::string header(const std::string& name) const {
      for (const auto& [k, v] : headers)
        if (k == name) return v;
      return "";
    }
  };
  Result<void> post(const std::string& url, const std::string& body, const Headers& headers,
                    Duration) override {
    std::lock_guard<std::mutex> g(mu);
    posts.push_back({url, body, headers});
    if (answers.empty()) return ok();
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
  std::size_t count() {
    std::lock_guard<std::mutex> g(mu);
    return posts.size();
  }
  std::mutex mu;
  std::deque<Result<void>> answers;
  std::vector<Post> posts;
};

Notification lifecycle(const std::string& event = "active") {
  Notification n;
  n.id = "uid-1." + event;
  n.event = event;
  n.body = R"({"text":"alice now has view","event":")" + event + "\"}";
  n.subject = Subject{"payments", "debug-orders", "uid-1"};
  return n;
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherOptions options() {
    DispatcherOptions o;
    o.defaultUrl = "http://127.0.0.1:1/hook";
    o.signingKey = kKey;
    o.metrics = &metrics_;
    o.random = [] { return 0.0; };  // the lower end of the jitter: base * 2^n / 2
    o.onDelivered = [this](const Notification& n) {
      std::lock_guard<std::mutex> g(mu_);
      delivered_.push_back(n.id);
    };
    return o;
  }
  double results(const std::string& event, const std::string& result) {
    return metrics_.counter("kubegrant_notifications_total", "", {"event", "result"})
        .with({event, result})
        .value();
  }
  double retries() {
    return metrics_.counter("kubegrant_notification_retries_total", "", {"receiver"})
        .with({"default"})
        .value();
  }
  std::vector<std::string> delivered() {
    std::lock_guard<std::mutex> g(mu_);
    return delivered_;
  }
  FakeClock clock_{TimePoint(std::chrono::seconds(1796000000))};
  ScriptedPoster poster_;
  metrics::Registry metrics_;
  std::mutex mu_;
  std::vector<std::string> delivered_;
};

TEST_F(DispatcherTest, APostIsSignedCarriesTheStableIdAndIsRecordedOnceDelivered) {
  Dispatcher d(poster_, clock_, options());
  ASSERT_TRUE(d.start());
  EXPECT_TRUE(d.send(lifecycle()));
  ASSERT_TRUE(testing::waitFor([&] { return delivered().size() == 1; }, 5s));
  ASSERT_EQ(poster_.count(), 1u);
  const auto& p = poster_.posts[0];
  EXPECT_EQ(p.url, "http://127.0.0.1:1/hook");
  EXPECT_EQ(p.header(kIdHeader), "uid-1.active");
  EXPECT_EQ(p.header(kEventHeader), "active");
  EXPECT_EQ(p.header(kTimestampHeader), "1796000000");
  EXPECT_TRUE(verifySignature(kKey, p.header(kTimestampHeader), p.body, p.header(kSignatureHeader),
                              clock_.now()));
  EXPECT_EQ(delivered(), std::vector<std::string>{"uid-1.active"});
  EXPECT_EQ(results("active", "delivered"), 1);
  d.stop();
}

TEST_F(DispatcherTest, A500IsRetriedAfterABackoffWithJitterAndThenDelivered) {
  poster_.answers.push_back(fail(ErrorCode::Unavailable, "the receiver answered HTTP 500"));
  poster_.answers.push_back(fail(ErrorCode::Unavailable, "the receiver answered HTTP 503"));
  Dispatcher d(poster_, clock_, options());
  ASSERT_TRUE(d.start());
  d.send(lifecycle());
  d.send(lifecycle("ended"));  // the same request's next event waits for this one
  // The retry is scheduled once it is counted.
  ASSERT_TRUE(testing::waitFor([&] { return retries() == 1; }, 5s));
  // First retry: base 1s, jitter at its lower end: 0.5 s. Nothing before that.
  clock_.advance(400ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(poster_.count(), 1u);
  clock_.advance(100ms);
  ASSERT_TRUE(testing::waitFor([&] { return retries() == 2; }, 5s));
  EXPECT_EQ(poster_.count(), 2u);
  // Second retry: 2 s * 0.5 = 1 s.
  clock_.advance(999ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(poster_.count(), 2u);
  clock_.advance(1ms);
  ASSERT_TRUE(testing::waitFor([&] { return delivered().size() == 2; }, 5s));
  ASSERT_EQ(poster_.count(), 4u);
  // Every attempt carries the same id, so a receiver that got one drops the others; the
  // request's next event came only after it, so the receiver sees them in order.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(poster_.posts[i].header(kIdHeader), "uid-1.active");
  EXPECT_EQ(poster_.posts[3].header(kIdHeader), "uid-1.ended");
  EXPECT_EQ(delivered(), (std::vector<std::string>{"uid-1.active", "uid-1.ended"}));
  EXPECT_EQ(retries(), 2);
  d.stop();
}

TEST_F(DispatcherTest, RetriesEndAfterMaxAttemptsAndA4xxIsFinalNeitherIsRecorded) {
  auto o = options();
  o.maxAttempts = 3;
  o.baseDelay = 1ms;
  o.maxDelay = 1ms;
  for (int i = 0; i < 3; ++i) poster_.answers.push_back(fail(ErrorCode::Unavailable, "HTTP 500"));
  poster_.answers.push_back(fail(ErrorCode::Invalid, "HTTP 400"));
  Dispatcher d(poster_, clock_, o);
  ASSERT_TRUE(d.start());
  d.send(lifecycle("active"));
  for (int i = 0; i < 50 && results("active", "failed") == 0; ++i) {
    clock_.advance(1ms);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(results("active", "failed"), 1);
  EXPECT_EQ(poster_.count(), 3u);
  d.send(lifecycle("ended"));
  ASSERT_TRUE(testing::waitFor([&] { return results("ended", "failed") == 1; }, 5s));
  EXPECT_EQ(poster_.count(), 4u);  // a 400 is not retried
  EXPECT_TRUE(delivered().empty());
  d.stop();
}

TEST_F(DispatcherTest, TheQueueIsBoundedAndARepeatedIdIsQueuedOnce) {
  auto o = options();
  o.capacity = 2;
  Dispatcher d(poster_, clock_, o);  // not started: nothing leaves the queue
  EXPECT_TRUE(d.send(lifecycle("created")));
  EXPECT_TRUE(d.send(lifecycle("created")));  // planned again by the next reconcile
  EXPECT_EQ(d.depth(), 1u);
  EXPECT_TRUE(d.send(lifecycle("approved")));
  EXPECT_FALSE(d.send(lifecycle("active")));  // full: dropped, never blocks
  EXPECT_EQ(d.depth(), 2u);
  EXPECT_EQ(results("active", "dropped"), 1);
}

TEST_F(DispatcherTest, PolicyReceiversGetItFromTheirSecretAndTheDefaultReceiverToo) {
  auto o = options();
  o.resolveUrl = [](const v1alpha1::SecretKeyReference& ref) -> Result<std::string> {
    if (ref.name == "payments-slack") return std::string("http://127.0.0.1:2/payments");
    return fail(ErrorCode::NotFound, "no such Secret");
  };
  Dispatcher d(poster_, clock_, o);
  ASSERT_TRUE(d.start());
  Notification n = lifecycle();
  n.receivers = {{"payments-slack", v1alpha1::SecretKeyReference{"kg", "payments-slack", "url"}}};
  d.send(n);
  ASSERT_TRUE(testing::waitFor([&] { return delivered().size() == 1; }, 5s));
  std::set<std::string> urls;
  for (const auto& p : poster_.posts) urls.insert(p.url);
  EXPECT_EQ(urls,
            (std::set<std::string>{"http://127.0.0.1:1/hook", "http://127.0.0.1:2/payments"}));
  d.stop();
}

TEST_F(DispatcherTest, ANotificationIsRecordedOnlyWhenEveryReceiverHasIt) {
  auto o = options();
  o.maxAttempts = 1;
  o.resolveUrl = [](const v1alpha1::SecretKeyReference&) -> Result<std::string> {
    return fail(ErrorCode::NotFound, "no such Secret");
  };
  Dispatcher d(poster_, clock_, o);
  ASSERT_TRUE(d.start());
  Notification n = lifecycle();
  n.receivers = {{"gone", v1alpha1::SecretKeyReference{"kg", "gone", "url"}}};
  d.send(n);
  ASSERT_TRUE(testing::waitFor([&] { return results("active", "failed") == 1; }, 5s));
  EXPECT_EQ(poster_.count(), 1u);  // the default receiver got it
  EXPECT_TRUE(delivered().empty());
  d.stop();
}

}  // namespace
}  // namespace kubegrant::notify
