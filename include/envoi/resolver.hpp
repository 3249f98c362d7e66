// Which account a mail leaves through: the site's, or the user's own.
#pragma once

#include <string>
#include <string_view>

#include <envoi/account.hpp>
#include <envoi/config.hpp>

namespace envoi {

/// Why a mail is sent.
enum class purpose {
  /// Speaks for the clinic (appointment reminders): always the site's account.
  reminder,
  /// Written by a person: the user's account, unless the site shares its own.
  correspondence,
};

/// The account picked for a mail, and why, in words a person can check.
struct resolution {
  envoi::account account;
  /// E.g. "site account of Clinique du Sud: shared with all its users".
  std::string reason;
  const envoi::site* site = nullptr;
  /// The user the mail is written by; null for reminders and when no user was given.
  const envoi::user* user = nullptr;
};

/// Picks accounts from a configuration: reminders leave through the site's account;
/// correspondence through the user's own account, unless the site shares one account for
/// itself and all its users (shared_account, the default). A user's account also sends
/// the site's verification copies (the site's bcc_copy) unless it has its own.
class account_resolver {
 public:
  explicit account_resolver(envoi::config cfg);

  /// The account for a mail of `why` from `site_id`, written by `user_id` (empty: no
  /// particular user, so the site's account). Throws invalid_input whose field is "site"
  /// or "user" for an unknown site or user, a user who does not work at the site, or a
  /// user with no account of their own on a site that does not share its account; the
  /// text says what to change in the configuration.
  resolution resolve(purpose why, std::string_view site_id, std::string_view user_id = {}) const;

  const envoi::config& settings() const noexcept { return config_; }

 private:
  envoi::config config_;
};

/// "reminder" or "correspondence".
std::string_view to_string(purpose p) noexcept;

}  // namespace envoi
