#include "protocol/extension_header.hpp"

#include <utility>

#include "sluice/util/ascii.hpp"

namespace sluice::protocol::detail {
namespace {

// tchar from RFC 7230 §3.2.6.
bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return c != '\0' && kSymbols.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// A read position in one header value.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const noexcept { return pos_ >= text_.size(); }
  bool take(char c) noexcept {
    if (done() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void skip_ows() noexcept {
    while (!done() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  // The longest run of tchars here; empty if there is none.
  std::string_view token() noexcept {
    const std::size_t start = pos_;
    while (!done() && is_tchar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // A quoted-string starting here, unescaped; nullopt if unterminated or it
  // holds a control character.
  std::optional<std::string> quoted() {
    if (!take('"')) return std::nullopt;
    std::string out;
    while (!done()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (done()) return std::nullopt;
        c = text_[pos_++];
      }
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return std::nullopt;
      out.push_back(c);
    }
    return std::nullopt;
  }
  bool at(char c) const noexcept { return !done() && text_[pos_] == c; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// One `name [= value]` after a ';'.
bool parse_param(Cursor& in, ExtensionParam& param) {
  in.skip_ows();
  const std::string_view name = in.token();
  if (name.empty()) return false;
  param.name = name;
  in.skip_ows();
  if (!in.take('=')) return true;
  in.skip_ows();
  if (in.at('"')) {
    auto value = in.quoted();
    // RFC 6455 §9.1: the unescaped value must still be a token.
    if (!value || !is_token(*value)) return false;
    param.value = std::move(*value);
  } else {
    const std::string_view value = in.token();
    if (value.empty()) return false;
    param.value = std::string(value);
  }
  in.skip_ows();
  return true;
}

// "8".."15", written without leading zeros or signs.
std::optional<int> parse_window_bits(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  const std::string& v = *value;
  if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return std::nullopt;
}

}  // namespace


bool parse_extensions(std::string_view value, std::vector<Extension>& out) {
  Cursor in(value);
  for (;;) {
    in.skip_ows();
    if (in.done()) return true;
    if (in.take(',')) continue;  // empty list element
    Extension extension;
    const std::string_view name = in.token();
    if (name.empty()) return false;
    extension.name = name;
    in.skip_ows();
    while (in.take(';')) {
      ExtensionParam param;
      if (!parse_param(in, param)) return false;
      extension.params.push_back(std::move(param));
    }
    out.push_back(std::move(extension));
    if (in.done()) return true;
    if (!in.take(',')) return false;
  }
}

std::optional<DeflateParamSet> parse_deflate_params(const std::vector<ExtensionParam>& params) {
  DeflateParamSet set;
  bool seen_server_bits = false;
  for (const ExtensionParam& p : params) {
    if (ascii_iequals(p.name, "server_no_context_takeover")) {
      if (set.server_no_context_takeover || p.value) return std::nullopt;
      set.server_no_context_takeover = true;
    } else if (ascii_iequals(p.name, "client_no_context_takeover")) {
      if (set.client_no_context_takeover || p.value) return std::nullopt;
      set.client_no_context_takeover = true;
    } else if (ascii_iequals(p.name, "server_max_window_bits")) {
      if (seen_server_bits) return std::nullopt;
      seen_server_bits = true;
      set.server_max_window_bits = parse_window_bits(p.value);
      if (!set.server_max_window_bits) return std::nullopt;  // the value is required
    } else if (ascii_iequals(p.name, "client_max_window_bits")) {
      if (set.has_client_max_window_bits) return std::nullopt;
      set.has_client_max_window_bits = true;
      if (p.value) {
        set.client_max_window_bits = parse_window_bits(p.value);
        if (!set.client_max_window_bits) return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  return set;
}

}  // namespace sluice::protocol::detail
