#include "envoi/resolver.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "envoi/error.hpp"

namespace envoi {
namespace {

std::string known_ids(const auto& map) {
  std::vector<std::string_view> ids;
  for (const auto& [id, value] : map) ids.push_back(id);
  return ids.empty() ? std::string("none") : fmt::format("{}", fmt::join(ids, ", "));
}

}  // namespace

account_resolver::account_resolver(envoi::config cfg) : config_(std::move(cfg)) {}

std::string_view to_string(purpose p) noexcept {
  return p == purpose::reminder ? "reminder" : "correspondence";
}

resolution account_resolver::resolve(purpose why, std::string_view site_id,
                                     std::string_view user_id) const {
  const auto s = config_.sites.find(site_id);
  if (s == config_.sites.end())
    throw invalid_input(
        "site", fmt::format("no site \"{}\" in the configuration; its sites are: {}", site_id,
                            known_ids(config_.sites)));
  const site& where = s->second;
  resolution r{where.account, "", &where, nullptr};

  // Reminders speak for the clinic, whoever asked for them.
  if (why == purpose::reminder) {
    r.reason =
        fmt::format("site account of {}: reminders are sent in the clinic's name", where.name);
    return r;
  }
  if (user_id.empty()) {
    r.reason =
        fmt::format("site account of {}: sent in the site's name, as no user is named", where.name);
    return r;
  }

  const auto u = config_.users.find(user_id);
  if (u == config_.users.end())
    throw invalid_input(
        "user", fmt::format("no user \"{}\" in the configuration; its users are: {}", user_id,
                            known_ids(config_.users)));
  const user& who = u->second;
  r.user = &who;
  if (std::find(who.sites.begin(), who.sites.end(), site_id) == who.sites.end())
    throw invalid_input(
        "user", fmt::format("{} does not work at {} (site \"{}\"); their sites are: {}", who.id,
                            where.name, site_id, fmt::join(who.sites, ", ")));

  if (where.shared_account) {
    r.reason = fmt::format("site account of {}: shared with all its users", where.name);
    return r;
  }
  if (!who.account)
    throw invalid_input(
        "user", fmt::format("{} has no SMTP account of their own, and {} does not share its "
                            "account; add [users.{}.smtp] or set shared_account = true in "
                            "[sites.{}]",
                            who.id, where.name, who.id, where.id));
  r.account = *who.account;
  // The site's verification copy covers everything that leaves the site.
  if (!r.account.bcc_copy) r.account.bcc_copy = where.account.bcc_copy;
  r.reason = fmt::format("account of {} <{}>: {} does not share its account", who.id,
                         who.from.address(), where.name);
  return r;
}

}  // namespace envoi
