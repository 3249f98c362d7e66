// The HTTPS exchange with an OAuth 2.0 token endpoint, with Boost.Beast and Boost.JSON.
#include "envoi/oauth2_endpoint.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>

#include "envoi/error.hpp"

namespace envoi {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

// RFC 6749 appendix B: form values are percent-encoded, space as '+'.
std::string form_encoded(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct endpoint_url {
  std::string host;
  std::string port;
  std::string target;
};

endpoint_url parse_url(const std::string& text) {
  const auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed || parsed->scheme() != "https" || parsed->host().empty())
    throw invalid_input(
        "token_url",
        "\"" + text + "\" is not an https URL, e.g. https://oauth2.googleapis.com/token");
  endpoint_url u;
  u.host = parsed->host();
  u.port = parsed->has_port() ? std::string(parsed->port()) : "443";
  u.target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) u.target += "?" + std::string(parsed->encoded_query());
  return u;
}

[[noreturn]] void fail(errc code, const std::string& what) {
  throw std::system_error(make_error_code(code), "OAuth token endpoint: " + what);
}

}  // namespace

struct oauth2_endpoint_provider::state {
  oauth2_settings settings;
  endpoint_url url;
  std::mutex mutex;
  std::string token;
  std::chrono::steady_clock::time_point expires;
  // Set when the endpoint rotates the refresh token; kept in memory only.
  std::string rotated_refresh_token;
  int requests = 0;

  std::string request_body() const {
    std::string body;
    const auto add = [&](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      body += body.empty() ? "" : "&";
      body += std::string(name) + "=" + form_encoded(value);
    };
    if (settings.grant == oauth2_grant::refresh_token) {
      add("grant_type", "refresh_token");
      add("refresh_token",
          rotated_refresh_token.empty() ? settings.refresh_token.read() : rotated_refresh_token);
    } else {
      add("grant_type", "client_credentials");
    }
    add("client_id", settings.client_id);
    if (!settings.client_secret.empty()) add("client_secret", settings.client_secret.read());
    add("scope", settings.scope);
    return body;
  }

  // The whole exchange as one coroutine on a private event loop, under one deadline.
  http::response<http::string_body> exchange(const std::string& body) {
    asio::io_context io;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (settings.ca_file.empty()) {
      tls.set_default_verify_paths(ec);
    } else {
      tls.load_verify_file(settings.ca_file.string(), ec);
    }
    if (ec)
      fail(errc::certificate_untrusted, "cannot load the certificate authorities: " + ec.message());

    http::request<http::string_body> request(http::verb::post, url.target, 11);
    request.set(http::field::host, url.host);
    request.set(http::field::user_agent, "envoi");
    request.set(http::field::content_type, "application/x-www-form-urlencoded");
    request.set(http::field::accept, "application/json");
    request.body() = body;
    request.prepare_payload();

    outcome result;
    asio::co_spawn(io, talk(tls, request, result), asio::detached);
    // The stream's own deadline bounds connect, TLS and HTTP; this one the look-up too.
    io.run_for(settings.timeout + std::chrono::seconds(1));
    if (!result.done)
      fail(errc::timed_out, "no answer from " + url.host + " within the time limit");
    if (result.failed != errc{}) fail(result.failed, result.what);
    return std::move(result.response);
  }

  struct outcome {
    bool done = false;
    errc failed{};
    std::string what;
    http::response<http::string_body> response;
  };

  asio::awaitable<void> talk(asio::ssl::context& tls, http::request<http::string_body>& request,
                             outcome& result) {
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    const auto failed = [&](errc code, const boost::system::error_code& e, std::string text) {
      result.failed = e == beast::error::timeout ? errc::timed_out : code;
      result.what = std::move(text) + ": " + e.message();
      result.done = true;
    };
    auto executor = co_await asio::this_coro::executor;

    tcp::resolver resolver(executor);
    auto [resolved, addresses] = co_await resolver.async_resolve(url.host, url.port, use_tuple);
    if (resolved) co_return failed(errc::resolve_failed, resolved, url.host);

    beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
    beast::get_lowest_layer(stream).expires_after(settings.timeout);
    auto [connected, endpoint] =
        co_await beast::get_lowest_layer(stream).async_connect(addresses, use_tuple);
    if (connected)
      co_return failed(errc::connect_failed, connected, "cannot connect to " + url.host);

    // SNI, and the name the certificate must carry.
    SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    auto [shaken] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (shaken) {
      const long verify = SSL_get_verify_result(stream.native_handle());
      if (verify == X509_V_OK)
        co_return failed(errc::tls_handshake_failed, shaken, "TLS with " + url.host);
      co_return failed(errc::certificate_untrusted, shaken,
                       "the certificate of " + url.host + " is not trusted (" +
                           X509_verify_cert_error_string(verify) + ")");
    }

    auto [written, n] = co_await http::async_write(stream, request, use_tuple);
    if (written) co_return failed(errc::connection_closed, written, "sending the request");
    beast::flat_buffer buffer;
    auto [read, m] = co_await http::async_read(stream, buffer, result.response, use_tuple);
    if (read) co_return failed(errc::connection_closed, read, "reading the answer");
    result.done = true;
  }

  std::string fetch() {
    ++requests;
    const auto response = exchange(request_body());
    json::value answer;
    boost::system::error_code ec;
    answer = json::parse(response.body(), ec);
    const json::object* o = ec ? nullptr : answer.if_object();
    const auto text = [&](std::string_view key) -> std::string {
      if (o == nullptr) return {};
      const auto* v = o->if_contains(key);
      return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };

    // RFC 6749 5.2: a refusal names its reason in "error".
    if (response.result() != http::status::ok || text("access_token").empty()) {
      const std::string error = text("error");
      if (error.empty())
        fail(errc::protocol_error, fmt::format("HTTP {} without an access token",
                                               static_cast<unsigned>(response.result_int())));
      std::string what = "refused: " + error;
      if (const std::string d = text("error_description"); !d.empty()) what += " (" + d + ")";
      if (error == "invalid_grant")
        what += "; the refresh token is no longer valid: the mailbox owner must consent again";
      fail(errc::auth_failed, what);
    }

    std::int64_t lifetime = 3600;
    if (const auto* v = o->if_contains("expires_in")) {
      if (v->is_int64()) lifetime = v->as_int64();
      if (v->is_string()) lifetime = std::atoll(v->as_string().c_str());
    }
    // A minute of margin, so a token never expires between here and the server.
    expires = std::chrono::steady_clock::now() +
              std::chrono::seconds(std::max<std::int64_t>(lifetime - 60, 0));
    if (const std::string r = text("refresh_token"); !r.empty()) rotated_refresh_token = r;
    return text("access_token");
  }
};

oauth2_endpoint_provider::oauth2_endpoint_provider(oauth2_settings settings)
    : state_(std::make_unique<state>()) {
  state_->url = parse_url(settings.token_url);
  if (settings.client_id.empty())
    throw invalid_input("client_id", "missing; the application's id at the provider");
  if (settings.grant == oauth2_grant::refresh_token && settings.refresh_token.empty())
    throw invalid_input("refresh_token", "missing; the refresh-token grant needs one");
  state_->settings = std::move(settings);
}

oauth2_endpoint_provider::~oauth2_endpoint_provider() = default;

std::string oauth2_endpoint_provider::access_token(bool refresh) {
  std::lock_guard lock(state_->mutex);
  if (refresh || state_->token.empty() || std::chrono::steady_clock::now() >= state_->expires)
    state_->token = state_->fetch();
  return state_->token;
}

int oauth2_endpoint_provider::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->requests;
}

}  // namespace envoi
