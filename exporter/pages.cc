#include "exporter/pages.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "common/duration.h"
#include "common/rfc3339.h"

namespace drift::exporter {
namespace {

constexpr std::string_view kStyle = R"(<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.compliant{color:#1a7f37}.drifted{color:#b35900;font-weight:bold}.error{color:#c00;font-weight:bold}.pending{color:#777}
code{font-size:90%}.note{color:#555;max-width:60em}</style>)";

// Where to read about the recommended actions: the docs ship with the exporter, not on a site.
constexpr std::string_view kActionsDoc =
    "<code>docs/configuration.md</code>, section &ldquo;Recommended actions&rdquo;";

// A span of time to the second ("0s" for a negative one).
std::string WholeSeconds(std::chrono::nanoseconds span) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(span);
  return FormatDuration(std::max(std::chrono::milliseconds(0),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(seconds)));
}

// How long ago `then` was, to the second ("0s" for the future).
std::string Since(WallTime then, WallTime now) { return WholeSeconds(now - then); }

// The "Drifted for" cell: empty while not drifted.
std::string Age(const CheckState& s, WallTime now) {
  if (!s.drifted) return "";
  return WholeSeconds(s.DriftAge(now));
}

// The severity row of a check page. The configured (or default) severity is what a drift would
// be reported with; it is no severity of the host's now, so it must not read like one.
std::string SeverityText(const CheckState& s) {
  const CheckSpec& spec = *s.spec;
  const std::string_view configured = checks::SeverityName(spec.severity);
  if (s.drifted) {
    if (spec.severity_configured) {
      return fmt::format("<b>{}</b> (the configured severity of this check's drift)",
                         checks::SeverityName(s.CurrentSeverity()));
    }
    return fmt::format("<b>{}</b> (the highest severity of the drift's causes below)",
                       checks::SeverityName(s.CurrentSeverity()));
  }
  if (spec.severity_configured) {
    return fmt::format("none (configured {}; applies while drifted)", configured);
  }
  return fmt::format(
      "none (default {}; applies while drifted, unless a cause of the drift has its own)",
      configured);
}

// The recommended-action row of a check page: the runbook's name, what it does, and what the
// name is for.
std::string ActionText(const CheckSpec& spec) {
  const std::string_view description = ActionDescription(spec.recommended_action);
  return fmt::format(
      "<code>{}</code>: {}<br><span class=\"note\">The runbook that heals this check's drift: "
      "alerts carry it in their <code>recommended_action</code> annotation, and healing runs the "
      "runbook of this name. See {}.</span>",
      HtmlEscape(spec.recommended_action),
      description.empty() ? "a runbook named in this check's configuration" : description,
      kActionsDoc);
}

// "Host web1 · checked root /srv/host · last run finished ..." above the landing page's table.
std::string HostLine(const Snapshot& snapshot, WallTime now, const PageHost& host) {
  std::string line = fmt::format("Host <b>{}</b>", HtmlEscape(host.hostname));
  if (host.root != "/") {
    line += fmt::format(" &middot; checking the files under <code>{}</code> (host.root)",
                        HtmlEscape(host.root));
  }
  std::optional<WallTime> last;
  for (const auto& s : snapshot.checks) {
    if (s->ran && (!last || s->last_run > *last)) last = s->last_run;
  }
  if (last) {
    line += fmt::format(" &middot; last run finished {} ({} ago)", FormatRfc3339(*last),
                        Since(*last, now));
  } else {
    line += " &middot; no check has finished a run yet";
  }
  return line;
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

std::string_view ActionDescription(std::string_view action) {
  struct Known {
    std::string_view action;
    std::string_view description;
  };
  // The check types' default runbooks (checks/types/*.cc), as docs/configuration.md lists them.
  static constexpr Known kKnown[] = {
      {"update_to_baseline_generation",
       "NixOS: switch the system to the generation the baseline pins"},
      {"apply_security_upgrades",
       "Debian: refresh apt's package lists, install the pending upgrades and reboot when "
       "/run/reboot-required asks for it"},
      {"restart_av_service", "restart the antivirus/EDR service"},
      {"run_backup_job", "run the backup job now"},
      {"restart_logging_services", "restart the logging services"},
      {"restore_firewall_baseline",
       "reload nftables.service, whose reload restores the baseline ruleset atomically "
       "(nft -f)"},
      {"enable_volume_encryption", "encrypt the volume with LUKS; a person does this, by hand"},
      {"restore_file_baseline", "put back the file's baseline content, mode and owner"},
  };
  for (const Known& k : kKnown) {
    if (k.action == action) return k.description;
  }
  return {};
}

namespace {

// The notes (of `check` only, unless empty) as one table per section, in the order the sections
// first appear; empty when there are none.
std::string NotesTables(const std::vector<PageNote>& notes, std::string_view check) {
  std::vector<std::pair<std::string_view, std::string>> sections;  // heading, rows
  for (const PageNote& n : notes) {
    if (!check.empty() && n.check != check) continue;
    auto it = std::find_if(sections.begin(), sections.end(),
                           [&n](const auto& s) { return s.first == n.section; });
    if (it == sections.end()) it = sections.insert(sections.end(), {n.section, {}});
    it->second += fmt::format(
        "<tr><td><a href=\"/checks/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td></tr>\n",
        HtmlEscape(n.check), HtmlEscape(n.title), HtmlEscape(n.text),
        n.command.empty() ? "" : "<code>" + HtmlEscape(n.command) + "</code>");
  }
  std::string out;
  for (const auto& [heading, rows] : sections) {
    out += fmt::format(
        "<h2>{}</h2>\n<table>\n<tr><th>Check</th><th>Status</th><th>What</th>"
        "<th>Command</th></tr>\n{}</table>\n",
        HtmlEscape(heading), rows);
  }
  return out;
}

}  // namespace

std::string RenderLandingPage(const Snapshot& snapshot, WallTime now, bool ready,
                              const PageHost& host, const std::vector<PageNote>& notes) {
  std::string body = "<h1>drift_exporter</h1>\n<p>" + HostLine(snapshot, now, host) + "</p>\n";
  body +=
      "<p><a href=\"/metrics\">Metrics</a> &middot; "
      "<a href=\"/-/healthy\">Health</a> &middot; <a href=\"/-/ready\">Readiness</a>";
  body += ready ? "</p>\n" : " &middot; <b>not ready: some checks have not run yet</b></p>\n";
  body +=
      "<table>\n<tr><th>Check</th><th>Type</th><th>State</th><th>Severity</th>"
      "<th>Drifted for</th><th>Reason</th><th>Controls</th><th>Last run</th></tr>\n";
  for (const auto& s : snapshot.checks) {
    std::string_view word = Name(s->Status());
    body += fmt::format(
        "<tr><td><a href=\"/checks/{0}\">{0}</a></td><td>{1}</td><td class=\"{2}\">{2}</td>"
        "<td>{3}</td><td>{4}</td><td>{5}</td><td><code>{6}</code></td><td>{7}</td></tr>\n",
        HtmlEscape(s->spec->name), HtmlEscape(s->spec->type->name), word,
        s->drifted ? checks::SeverityName(s->CurrentSeverity()) : "", Age(*s, now),
        HtmlEscape(ShownReason(*s)), HtmlEscape(s->spec->controls_label),
        s->ran ? FormatRfc3339(s->last_run) : "never");
  }
  body += "</table>\n";
  body += NotesTables(notes, "");
  return Page("drift_exporter on " + host.hostname, body);
}

std::optional<std::string> RenderCheckPage(const Snapshot& snapshot, std::string_view name,
                                           WallTime now, const std::vector<PageNote>& notes) {
  for (const auto& s : snapshot.checks) {
    if (s->spec->name != name) continue;
    const CheckSpec& spec = *s->spec;
    std::string_view word = Name(s->Status());
    std::string body = fmt::format(
        "<p><a href=\"/\">&larr; all checks</a></p>\n<h1>{0}</h1>\n<table>\n"
        "<tr><th>Type</th><td>{1}</td></tr>\n"
        "<tr><th>State</th><td class=\"{2}\">{2}</td></tr>\n"
        "<tr><th>Reason</th><td>{3}</td></tr>\n"
        "<tr><th>Severity</th><td>{4}</td></tr>\n"
        "<tr><th>Drifted for</th><td>{5}</td></tr>\n"
        "<tr><th>Drift threshold</th><td>{6} consecutive run(s); current streak {7}</td></tr>\n"
        "<tr><th>Controls</th><td><code>{8}</code></td></tr>\n"
        "<tr><th>Recommended action</th><td>{9}</td></tr>\n"
        "<tr><th>Last run</th><td>{10} ({11:.3f}s; {12} runs)</td></tr>\n"
        "<tr><th>Timeout</th><td>{13}</td></tr>\n</table>\n",
        HtmlEscape(spec.name), HtmlEscape(spec.type->name), word, HtmlEscape(ShownReason(*s)),
        SeverityText(*s), Age(*s, now), spec.drift_threshold, s->drift_streak,
        HtmlEscape(spec.controls_label), ActionText(spec),
        s->ran ? FormatRfc3339(s->last_run) : "never", s->duration_seconds, s->runs,
        FormatDuration(spec.timeout));
    body += NotesTables(notes, spec.name);
    if (!s->result.findings.empty()) {
      body +=
          "<h2>Drift</h2>\n<table>\n<tr><th>Cause</th><th>Observed</th><th>Expected</th>"
          "<th>Severity</th></tr>\n";
      for (const checks::Finding& f : s->result.findings) {
        body += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                            HtmlEscape(f.cause), HtmlEscape(f.observed), HtmlEscape(f.expected),
                            checks::SeverityName(CauseSeverity(spec, f)));
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
