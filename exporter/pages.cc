#include "exporter/pages.h"

#include <fmt/format.h>

#include "common/duration.h"
#include "common/rfc3339.h"

namespace drift::exporter {
namespace {

constexpr std::string_view kStyle = R"(<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.compliant{color:#1a7f37}.drifted{color:#b35900;font-weight:bold}.error{color:#c00;font-weight:bold}.pending{color:#777}
code{font-size:90%}</style>)";

std::string Age(const CheckState& s, WallTime now) {
  if (!s.known || !s.drifted) return "";
  auto age = std::chrono::duration_cast<std::chrono::seconds>(now - s.drift_since);
  return FormatDuration(std::max(std::chrono::milliseconds(0),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(age)));
}

// The reason a page shows: why a scrape had no result, else the latest run's.
const std::string& ShownReason(const CheckState& s) {
  return s.overdue.empty() ? s.result.reason : s.overdue;
}

std::string Page(std::string_view title, std::string_view body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>{}</head>"
      "<body>\n{}</body></html>\n",
      HtmlEscape(title), kStyle, body);
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view StateWord(const CheckState& s) {
  if (!s.overdue.empty()) return "error";
  if (!s.ran) return "pending";
  if (!s.success) return "error";
  return s.drifted ? "drifted" : "compliant";
}

std::string RenderLandingPage(const Snapshot& snapshot, WallTime now, bool ready) {
  std::string body =
      "<h1>drift_exporter</h1>\n<p><a href=\"/metrics\">Metrics</a> &middot; "
      "<a href=\"/-/healthy\">Health</a> &middot; <a href=\"/-/ready\">Readiness</a>";
  body += ready ? "</p>\n" : " &middot; <b>not ready: some checks have not run yet</b></p>\n";
  body +=
      "<table>\n<tr><th>Check</th><th>Type</th><th>State</th><th>Severity</th>"
      "<th>Drifted for</th><th>Reason</th><th>Controls</th><th>Last run</th></tr>\n";
  for (const auto& s : snapshot.checks) {
    std::string_view word = StateWord(*s);
    body += fmt::format(
        "<tr><td><a href=\"/checks/{0}\">{0}</a></td><td>{1}</td><td class=\"{2}\">{2}</td>"
        "<td>{3}</td><td>{4}</td><td>{5}</td><td><code>{6}</code></td><td>{7}</td></tr>\n",
        HtmlEscape(s->spec->name), HtmlEscape(s->spec->type->name), word,
        s->drifted ? checks::SeverityName(s->severity) : "", Age(*s, now),
        HtmlEscape(ShownReason(*s)), HtmlEscape(s->spec->controls_label),
        s->ran ? FormatRfc3339(s->last_run) : "never");
  }
  body += "</table>\n";
  return Page("drift_exporter", body);
}

std::optional<std::string> RenderCheckPage(const Snapshot& snapshot, std::string_view name,
                                           WallTime now) {
  for (const auto& s : snapshot.checks) {
    if (s->spec->name != name) continue;
    const CheckSpec& spec = *s->spec;
    std::string_view word = StateWord(*s);
    std::string body = fmt::format(
        "<p><a href=\"/\">&larr; all checks</a></p>\n<h1>{0}</h1>\n<table>\n"
        "<tr><th>Type</th><td>{1}</td></tr>\n"
        "<tr><th>State</th><td class=\"{2}\">{2}</td></tr>\n"
        "<tr><th>Reason</th><td>{3}</td></tr>\n"
        "<tr><th>Severity</th><td>{4} ({5})</td></tr>\n"
        "<tr><th>Drifted for</th><td>{6}</td></tr>\n"
        "<tr><th>Drift threshold</th><td>{7} consecutive run(s); current streak {8}</td></tr>\n"
        "<tr><th>Controls</th><td><code>{9}</code></td></tr>\n"
        "<tr><th>Recommended action</th><td><code>{10}</code></td></tr>\n"
        "<tr><th>Last run</th><td>{11} ({12:.3f}s; {13} runs)</td></tr>\n"
        "<tr><th>Timeout</th><td>{14}</td></tr>\n</table>\n",
        HtmlEscape(spec.name), HtmlEscape(spec.type->name), word, HtmlEscape(ShownReason(*s)),
        s->drifted ? checks::SeverityName(s->severity) : "none",
        checks::SeverityName(spec.severity), Age(*s, now), spec.drift_threshold, s->drift_streak,
        HtmlEscape(spec.controls_label), HtmlEscape(spec.recommended_action),
        s->ran ? FormatRfc3339(s->last_run) : "never", s->duration_seconds, s->runs,
        FormatDuration(spec.timeout));
    if (!s->result.findings.empty()) {
      body +=
          "<h2>Drift</h2>\n<table>\n<tr><th>Cause</th><th>Observed</th><th>Expected</th>"
          "<th>Severity</th></tr>\n";
      for (const checks::Finding& f : s->result.findings) {
        body +=
            fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        HtmlEscape(f.cause), HtmlEscape(f.observed), HtmlEscape(f.expected),
                        checks::SeverityName(f.severity == checks::Severity::kNone ? spec.severity
                                                                                   : f.severity));
      }
      body += "</table>\n";
    }
    if (!s->result.observations.empty()) {
      body += "<h2>Observations</h2>\n<table>\n";
      for (const checks::Observation& o : s->result.observations) {
        body += fmt::format("<tr><th>{}</th><td><code>{}</code></td></tr>\n", HtmlEscape(o.key),
                            HtmlEscape(o.value));
      }
      body += "</table>\n";
    }
    return Page(spec.name + " - drift_exporter", body);
  }
  return std::nullopt;
}

}  // namespace drift::exporter
