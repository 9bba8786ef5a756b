// Webhook URL checks at subscription creation.
#include <gtest/gtest.h>

#include <string>

#include "sluice/webhook/webhook_url.hpp"

namespace {

using namespace sluice::webhook;

std::optional<WebhookUrl> parse(std::string_view url, const AddressPolicy& policy = {}) {
  std::string error;
  auto out = parse_webhook_url(url, policy, error);
  EXPECT_EQ(out.has_value(), error.empty()) << url << ": " << error;
  return out;
}

std::string error_of(std::string_view url, const AddressPolicy& policy = {}) {
  std::string error;
  EXPECT_FALSE(parse_webhook_url(url, policy, error)) << url;
  return error;
}

TEST(WebhookUrl, ParsesHttpAndHttps) {
  auto a = parse("https://hooks.example.com/sluice?x=1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->secure);
  EXPECT_EQ(a->host, "hooks.example.com");
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->target, "/sluice?x=1");
  EXPECT_FALSE(a->literal);
  EXPECT_EQ(a->host_header(), "hooks.example.com");
  EXPECT_EQ(a->origin(), "https://hooks.example.com:443");

  auto b = parse("HTTP://Hooks.Example.COM:8080");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->secure);
  EXPECT_EQ(b->host, "hooks.example.com");
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(b->target, "/");
  EXPECT_EQ(b->host_header(), "hooks.example.com:8080");

  auto c = parse("http://example.com?q");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->target, "/?q");

  auto d = parse("https://[2606:4700:4700::1111]:8443/h");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "2606:4700:4700::1111");
  ASSERT_TRUE(d->literal);
  EXPECT_EQ(d->host_header(), "[2606:4700:4700::1111]:8443");
  EXPECT_EQ(d->origin(), "https://[2606:4700:4700::1111]:8443");

  auto e = parse("http://8.8.8.8/x");
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->literal);
  EXPECT_EQ(e->literal->to_string(), "8.8.8.8");
  EXPECT_TRUE(parse("http://under_score.example.com/"));
  EXPECT_TRUE(parse("http://xn--bcher-kva.example/"));
}

TEST(WebhookUrl, RejectsWhatIsNotAUsableHttpUrl) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("ftp://example.com/").find("http:// or https://"), std::string::npos);
  EXPECT_NE(error_of("ws://example.com/").find("http:// or https://"), std::string::npos);
  EXPECT_NE(error_of("example.com/hook").find("http:// or https://"), std::string::npos);
  EXPECT_NE(error_of("https:///path").find("no host"), std::string::npos);
  EXPECT_NE(error_of("https://:443/").find("no host"), std::string::npos);
  EXPECT_NE(error_of("https://user:pw@example.com/").find("user information"), std::string::npos);
  EXPECT_NE(error_of("https://@example.com/").find("user information"), std::string::npos);
  EXPECT_NE(error_of("https://example.com/#frag").find("fragment"), std::string::npos);
  EXPECT_NE(error_of("https://example.com:0/").find("port"), std::string::npos);
  EXPECT_NE(error_of("https://example.com:65536/").find("port"), std::string::npos);
  EXPECT_NE(error_of("https://example.com:/").find("port"), std::string::npos);
  EXPECT_NE(error_of("https://example.com:8a/").find("port"), std::string::npos);
  EXPECT_NE(error_of("https://exa mple.com/").find("printable"), std::string::npos);
  EXPECT_NE(error_of("https://example.com/\r\nX-Evil: 1").find("printable"), std::string::npos);
  EXPECT_NE(error_of("https://bücher.example/").find("printable"), std::string::npos);
  EXPECT_NE(error_of("https://ex*ample.com/").find("letters, digits"), std::string::npos);
  EXPECT_NE(error_of("https://example..com/").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("https://example.com./").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("https://[::1/").find("']'"), std::string::npos);
  EXPECT_NE(error_of("https://[::1]x/").find("after its IPv6"), std::string::npos);
  EXPECT_NE(error_of("https://[nothex]/").find("IPv6"), std::string::npos);
  EXPECT_NE(error_of("https://[fe80::1%25eth0]/").find("zone"), std::string::npos);
  EXPECT_NE(error_of("https://" + std::string(64, 'a') + ".com/").find("63"), std::string::npos);
  EXPECT_NE(error_of("https://example.com/" + std::string(kMaxWebhookUrlSize, 'a')).find("longer"), std::string::npos);
}

TEST(WebhookUrl, RefusesLiteralAddressesThePolicyRefuses) {
  for (const char* url : {"http://127.0.0.1/", "http://10.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data",
                          "http://[::1]/", "http://[fe80::1]/", "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/",
                          "http://[::ffff:a9fe:a9fe]/", "http://0.0.0.0/", "http://192.168.1.1/",
                          "http://100.64.0.1/", "http://255.255.255.255/", "http://224.0.0.1/"}) {
    const std::string e = error_of(url);
    EXPECT_NE(e.find("refused"), std::string::npos) << url << ": " << e;
    EXPECT_NE(e.find("webhooks may not connect"), std::string::npos) << url << ": " << e;
  }
  EXPECT_EQ(error_of("http://169.254.169.254/latest"),
            "the webhook URL's host is refused: webhooks may not connect to 169.254.169.254 (link-local address; "
            "see --webhook-allow)");
}

TEST(WebhookUrl, RefusesNumericTricksAndLocalhostNames) {
  // Forms a resolver would read as 127.0.0.1 (or other numbers) are not literals we accept.
  for (const char* url : {"http://127.1/", "http://2130706433/", "http://0x7f.1/", "http://0x7f000001/",
                          "http://017700000001/", "http://127.0.0.01/", "http://1.2.3.4.5/", "http://example.123/"}) {
    const std::string e = error_of(url);
    EXPECT_NE(e.find("dotted-quad"), std::string::npos) << url << ": " << e;
  }
  for (const char* url : {"http://localhost/", "http://LOCALHOST:8080/", "http://api.localhost/"}) {
    EXPECT_NE(error_of(url).find("loopback"), std::string::npos) << url;
  }
  // Names that resolve later are checked at connect time, not here.
  EXPECT_TRUE(parse("http://localhost.example.com/"));
  EXPECT_TRUE(parse("http://0x.example.com/"));
}

TEST(WebhookUrl, AllowlistPermitsLoopbackForTests) {
  std::string error;
  auto policy = AddressPolicy::from_strings({"127.0.0.0/8"}, error);
  ASSERT_TRUE(policy);
  EXPECT_TRUE(parse("http://127.0.0.1:9000/hook", *policy));
  EXPECT_TRUE(parse("http://localhost:9000/hook", *policy));
  EXPECT_TRUE(parse("http://[::ffff:127.0.0.1]:9000/hook", *policy));
  EXPECT_FALSE(parse_webhook_url("http://[::1]:9000/hook", *policy, error));
  EXPECT_FALSE(parse_webhook_url("http://10.0.0.1/", *policy, error));
}

TEST(WebhookUrl, ErrorsNeverRepeatThePathOrQuery) {
  for (const char* url : {"http://127.0.0.1/hook?token=SECRET123", "https://user:SECRET123@example.com/",
                          "ftp://example.com/SECRET123", "https://example.com:99999/SECRET123",
                          "https://example.com/SECRET123#frag"}) {
    EXPECT_EQ(error_of(url).find("SECRET123"), std::string::npos) << url;
  }
}

}  // namespace
