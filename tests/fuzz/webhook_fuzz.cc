// Alertmanager webhook messages (healing/webhook.h) on arbitrary bytes: the body of
// POST /api/v1/heal before any authentication decides what it may do. Properties: what the parser
// accepts, the alert source's renderer (alerts/webhook.h) writes in a form that parses back to
// the same message (times to the millisecond the renderer keeps), and rendering that again gives
// the same bytes; the nesting scan and the parser agree that nothing deeper than the limit parses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "alerts/webhook.h"
#include "healing/webhook.h"
#include "tests/fuzz/fuzz_check.h"

using drift::fuzz::Expect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  drift::Result<drift::WebhookMessage> message = drift::healing::ParseWebhookMessage(body);
  if (!message.ok()) {
    Expect(!message.error().message.empty(), "a refusal without a reason");
    return 0;
  }
  Expect(!message->alerts.empty(), "a message without alerts parsed");
  Expect(drift::healing::JsonNestingDepth(body, drift::healing::kMaxWebhookDepth) <=
             drift::healing::kMaxWebhookDepth,
         "a message nested deeper than the limit parsed");
  const std::string rendered = drift::alerts::RenderWebhookMessage(*message);
  drift::Result<drift::WebhookMessage> again = drift::healing::ParseWebhookMessage(rendered);
  Expect(again.ok(), "a rendered message does not parse");
  Expect(again->alerts.size() == message->alerts.size() && again->status == message->status &&
             again->receiver == message->receiver && again->group_key == message->group_key,
         "a rendered message reads back different");
  for (std::size_t i = 0; i < again->alerts.size(); ++i) {
    const drift::WebhookAlert& a = message->alerts[i];
    const drift::WebhookAlert& b = again->alerts[i];
    Expect(a.status == b.status && a.labels == b.labels && a.annotations == b.annotations &&
               a.fingerprint == b.fingerprint && a.generator_url == b.generator_url &&
               a.ends_at.has_value() == b.ends_at.has_value(),
           "a rendered alert reads back different");
  }
  Expect(drift::alerts::RenderWebhookMessage(*again) == rendered,
         "rendering a parsed rendering changes it");
  return 0;
}
