// Signing: base64, HMAC-SHA256 known vectors (RFC 4231), the Standard
// Webhooks spec's own example, secret validation and generation. The
// independent checks (Python hmac, npm standardwebhooks, the docs' snippets)
// are in signature_interop_test.py.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sluice/webhook/base64.hpp"
#include "sluice/webhook/signature.hpp"

namespace {

using namespace sluice::webhook;

TEST(WebhookBase64, EncodesWithPaddingRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
}

TEST(WebhookBase64, DecodesOnlyCanonicalPaddedText) {
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("+/+/"), std::string("\xfb\xff\xbf", 3));
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_FALSE(base64_decode("Zm9vYg"));     // no padding
  EXPECT_FALSE(base64_decode("Zm9vYg="));    // wrong length
  EXPECT_FALSE(base64_decode("Zm=vYg=="));   // '=' inside
  EXPECT_FALSE(base64_decode("Zm9vYh=="));   // non-zero unused bits
  EXPECT_FALSE(base64_decode("Zm9-Yg=="));   // base64url alphabet
  EXPECT_FALSE(base64_decode("Zm9v Yg=="));  // space
  EXPECT_FALSE(base64_decode("===="));
  for (const std::string s : {"a", "ab", "abc", "\x00\x01\x02", "hello world!"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
}

TEST(WebhookSignature, HmacSha256MatchesRfc4231) {
  // Test case 2.
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 1: key 0x0b x 20, "Hi There".
  EXPECT_EQ(hex_encode(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 6: a key longer than the block size.
  EXPECT_EQ(hex_encode(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty key is a key (Python: hmac.new(b"", b"", sha256)).
  EXPECT_EQ(hex_encode(hmac_sha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(WebhookSignature, StandardWebhooksSpecExample) {
  // The example in the Standard Webhooks specification and its libraries' tests.
  std::string error;
  auto signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", error);
  ASSERT_TRUE(signer) << error;
  EXPECT_EQ(signer->standard_signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignature, SluiceSignatureUsesTheSecretBytesAsGiven) {
  std::string error;
  auto signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", error);
  ASSERT_TRUE(signer);
  // Key = the whole text "whsec_..." (not decoded): sha256=HMAC(secret, "ts.body").
  EXPECT_EQ(signer->sluice_signature(1614265330, "{}"),
            "sha256=" + hex_encode(hmac_sha256("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "1614265330.{}")));
}

TEST(WebhookSignature, NonWhsecSecretSignsBothWithItsBytes) {
  std::string error;
  auto signer = WebhookSigner::from_secret("my secret", error);
  ASSERT_TRUE(signer) << error;
  EXPECT_EQ(signer->standard_signature("evt_1", 10, "b"),
            "v1," + base64_encode(hmac_sha256("my secret", "evt_1.10.b")));
  EXPECT_EQ(signer->sluice_signature(10, "b"), "sha256=" + hex_encode(hmac_sha256("my secret", "10.b")));
}

TEST(WebhookSignature, SignFillsEveryHeaderConsistently) {
  std::string error;
  auto signer = WebhookSigner::from_secret("whsec_c2VjcmV0", error);  // "secret"
  ASSERT_TRUE(signer);
  const auto h = signer->sign("evt_42", 1700000000, R"({"a":1})");
  EXPECT_EQ(h.sluice_timestamp, "1700000000");
  EXPECT_EQ(h.webhook_timestamp, "1700000000");
  EXPECT_EQ(h.webhook_id, "evt_42");
  EXPECT_EQ(h.webhook_signature, "v1," + base64_encode(hmac_sha256("secret", R"(evt_42.1700000000.{"a":1})")));
  EXPECT_EQ(h.sluice_signature, "sha256=" + hex_encode(hmac_sha256("whsec_c2VjcmV0", R"(1700000000.{"a":1})")));
  // A changed body, id or time changes the signatures.
  EXPECT_NE(signer->sign("evt_42", 1700000000, R"({"a":2})").webhook_signature, h.webhook_signature);
  EXPECT_NE(signer->sign("evt_43", 1700000000, R"({"a":1})").webhook_signature, h.webhook_signature);
  EXPECT_NE(signer->sign("evt_42", 1700000001, R"({"a":1})").sluice_signature, h.sluice_signature);
}

TEST(WebhookSignature, InvalidSecretsAreRefusedWithoutEchoingThem) {
  const std::string secrets[] = {"", "whsec_", "whsec_not base64!", "whsec_c2VjcmV0Zg", "whsec_@@@@",
                                 std::string(kMaxSecretSize + 1, 'x')};
  for (const auto& secret : secrets) {
    std::string error;
    EXPECT_FALSE(WebhookSigner::from_secret(secret, error)) << secret;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(error, validate_secret(secret));
    if (secret.size() > 6) {
      EXPECT_EQ(error.find(secret.substr(6)), std::string::npos) << error;
    }
  }
  EXPECT_EQ(validate_secret("x"), "");
  EXPECT_EQ(validate_secret(std::string(kMaxSecretSize, 'x')), "");
  EXPECT_EQ(validate_secret("whsec_AA=="), "");
}

TEST(WebhookSignature, GeneratedSecretsAreWhsec32RandomBytes) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto secret = generate_secret();
    ASSERT_TRUE(secret);
    ASSERT_TRUE(secret->starts_with("whsec_"));
    auto key = base64_decode(std::string_view(*secret).substr(6));
    ASSERT_TRUE(key);
    EXPECT_EQ(key->size(), 32u);
    EXPECT_EQ(validate_secret(*secret), "");
    seen.insert(*secret);
  }
  EXPECT_EQ(seen.size(), 50u);
}

}  // namespace
