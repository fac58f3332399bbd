#include "operator/common/metrics.h"

#include <gtest/gtest.h>

namespace kubegrant::metrics {
namespace {

TEST(MetricsRegistry, RendersCountersGaugesAndHistogramsInTextFormat) {
  Registry r;
  r.counter("kg_things_total", "Things.", {"kind"}).with({"a\"b"}).inc(2);
  r.gauge("kg_level", "Level.").with().set(1.5);
  auto& h = r.histogram("kg_latency_seconds", "Latency.", {}, {0.1, 1});
  h.with().observe(0.05);
  h.with().observe(0.5);
  h.with().observe(5);
  std::string text = r.render();
  EXPECT_NE(text.find("# TYPE kg_things_total counter\nkg_things_total{kind=\"a\\\"b\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kg_level 1.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kg_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kg_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kg_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kg_latency_seconds_count 3\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, RunsCollectorsBeforeRendering) {
  Registry r;
  auto& g = r.gauge("kg_queue_depth", "Depth.").with();
  r.addCollector([&] { g.set(7); });
  EXPECT_NE(r.render().find("kg_queue_depth 7\n"), std::string::npos);
}

}  // namespace
}  // namespace kubegrant::metrics
