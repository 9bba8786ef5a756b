// sign_hs256_token: tokens our verifier accepts with exactly the claims
// given, that PyJWT (an independent implementation) decodes alike, and
// refusals that never show the secret.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/auth_test_support.hpp"
#include "sluice/auth/token_signer.hpp"
#include "sluice/auth/token_verifier.hpp"

namespace sluice::auth {
namespace {

using testing::kNow;
using testing::kNowTp;
const std::string kSignerSecret = "signer-test-secret-that-is-long-enough-0123456789";

TokenClaims sample() {
  TokenClaims c;
  c.sub = "bob";
  c.exp = kNow + 3600;
  c.nbf = kNow - 10;
  c.iat = kNow;
  c.subscribe = {"orders.>", "prices.*"};
  c.publish = {"chat.bob"};
  return c;
}

TEST(TokenSigner, OurVerifierReadsBackTheClaims) {
  std::string error;
  const auto token = sign_hs256_token(kSignerSecret, sample(), error);
  ASSERT_TRUE(token) << error;
  const auto v = TokenVerifier::from_key(TokenAlgorithm::hs256, kSignerSecret, std::chrono::seconds(0), error);
  ASSERT_TRUE(v) << error;
  const auto check = v->verify(*token, kNowTp);
  ASSERT_TRUE(check) << check.message;
  EXPECT_EQ(check.claims->sub, "bob");
  EXPECT_EQ(check.claims->exp, kNow + 3600);
  EXPECT_EQ(check.claims->nbf, kNow - 10);
  EXPECT_EQ(check.claims->iat, kNow);
  EXPECT_EQ(check.claims->subscribe, sample().subscribe);
  EXPECT_EQ(check.claims->publish, sample().publish);
  // Another secret: refused.
  const auto other = TokenVerifier::from_key(TokenAlgorithm::hs256, kSignerSecret + "x", std::chrono::seconds(0), error);
  EXPECT_EQ(other->verify(*token, kNowTp).failure, TokenFailure::bad_signature);
}

TEST(TokenSigner, PyJwtDecodesItAlike) {
  testing::TempDir dir;
  testing::write_file(dir / "secret", kSignerSecret);
  std::string error;
  auto c = sample();
  c.exp = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
          3600;  // PyJWT checks exp against its own clock
  c.nbf.reset();
  const auto token = sign_hs256_token(kSignerSecret, c, error);
  ASSERT_TRUE(token) << error;
  const auto out = testing::run_program({SLUICE_PYTHON, SLUICE_JWT_HELPER, "decode", (dir / "secret").string(), *token});
  const auto claims = boost::json::parse(out).as_object();
  EXPECT_EQ(claims.at("sub"), "bob");
  EXPECT_EQ(claims.at("exp").as_int64(), c.exp);
  EXPECT_EQ(claims.at("subscribe"), boost::json::parse(R"(["orders.>","prices.*"])"));
  EXPECT_EQ(claims.at("publish"), boost::json::parse(R"(["chat.bob"])"));
}

TEST(TokenSigner, RefusesShortSecretAndBadPatterns) {
  std::string error;
  EXPECT_FALSE(sign_hs256_token("short-one", sample(), error));
  EXPECT_EQ(error.find("short-one"), std::string::npos) << error;
  auto c = sample();
  c.subscribe.push_back("a..b");
  EXPECT_FALSE(sign_hs256_token(kSignerSecret, c, error));
  EXPECT_NE(error.find("'a..b' is not a topic pattern"), std::string::npos) << error;
  EXPECT_EQ(error.find(kSignerSecret), std::string::npos);
}

}  // namespace
}  // namespace sluice::auth
