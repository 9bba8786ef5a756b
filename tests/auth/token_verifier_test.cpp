// TokenVerifier against tokens made by an independent tool (Python's jwt,
// via jwt_helper.py), with keys made by `openssl`: HS256, RS256 and ES256
// accepted when right, and each way of being wrong refused with its reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "auth/auth_test_support.hpp"
#include "sluice/auth/base64url.hpp"
#include "sluice/auth/token_verifier.hpp"

namespace sluice::auth {
namespace {

using testing::run_program;
using testing::write_file;

using testing::kNow;
using testing::kNowTp;
const std::string kVerifierSecret = "0123456789abcdef0123456789abcdef-hs256-test-secret";

class TokenVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto p = [](const char* name) { return (*dir_ / name).string(); };
    write_file(*dir_ / "secret", kVerifierSecret);
    write_file(*dir_ / "other_secret", kVerifierSecret + "-but-another-one");
    run_program({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ec.pem")});
    run_program({"openssl", "pkey", "-in", p("ec.pem"), "-pubout", "-out", p("ec_pub.pem")});
    run_program({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ec2.pem")});
    run_program({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-quiet", "-out", p("rsa.pem")});
    run_program({"openssl", "pkey", "-in", p("rsa.pem"), "-pubout", "-out", p("rsa_pub.pem")});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string path(const char* name) { return (*dir_ / name).string(); }

  // A token signed by PyJWT.
  static std::string py_sign(const std::string& alg, const char* key_file, const std::string& claims,
                             const std::string& headers = "") {
    std::vector<std::string> argv{SLUICE_PYTHON, SLUICE_JWT_HELPER, "sign", alg, path(key_file), claims};
    if (!headers.empty()) argv.push_back(headers);
    auto token = run_program(argv);
    while (!token.empty() && token.back() == '\n') token.pop_back();
    EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;
    return token;
  }
  // A token made by hand: HMAC-SHA256 with `hmac_key_file`'s bytes, or no signature.
  static std::string forge(const std::string& header, const std::string& claims, const char* hmac_key_file = nullptr) {
    std::vector<std::string> argv{SLUICE_PYTHON, SLUICE_JWT_HELPER, "forge", header, claims};
    if (hmac_key_file) argv.push_back(path(hmac_key_file));
    auto token = run_program(argv);
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }

  static std::shared_ptr<const TokenVerifier> verifier(TokenAlgorithm alg, const char* key_file,
                                                       std::chrono::seconds leeway = std::chrono::seconds(0)) {
    std::string error;
    auto v = TokenVerifier::create({alg, path(key_file), leeway}, error);
    EXPECT_TRUE(v) << error;
    return v;
  }

  static std::string claims(std::int64_t exp_offset = 3600) {
    return R"({"sub":"alice","exp":)" + std::to_string(kNow + exp_offset) +
           R"(,"subscribe":["orders.>","news.*"],"publish":["chat.room1"],"channels":["news"]})";
  }

  static void expect_refused(const TokenCheck& check, TokenFailure failure, const std::string& token) {
    EXPECT_FALSE(check);
    EXPECT_FALSE(check.claims.has_value());
    EXPECT_EQ(check.failure, failure) << to_string(check.failure) << ": " << check.message;
    EXPECT_FALSE(check.message.empty());
    EXPECT_LE(check.message.size(), 100u) << check.message;  // fits a close reason (123 bytes)
    EXPECT_EQ(check.message.find(kVerifierSecret), std::string::npos);
    if (token.size() > 8) {
      EXPECT_EQ(check.message.find(token.substr(0, 8)), std::string::npos) << check.message;
    }
  }

  static testing::TempDir* dir_;
};
testing::TempDir* TokenVerifierTest::dir_ = nullptr;

void expect_alice(const TokenCheck& check) {
  ASSERT_TRUE(check) << to_string(check.failure) << ": " << check.message;
  EXPECT_EQ(check.claims->sub, "alice");
  EXPECT_EQ(check.claims->exp, kNow + 3600);
  EXPECT_EQ(check.claims->subscribe, (std::vector<std::string>{"orders.>", "news.*"}));
  EXPECT_EQ(check.claims->publish, (std::vector<std::string>{"chat.room1"}));
  EXPECT_EQ(check.claims->channels, (std::vector<std::string>{"news"}));
  EXPECT_TRUE(check.claims->may_subscribe("orders.eu"));
  EXPECT_TRUE(check.claims->may_subscribe("orders.*"));
  EXPECT_FALSE(check.claims->may_subscribe("orders"));
  EXPECT_FALSE(check.claims->may_subscribe("news.>"));
  EXPECT_TRUE(check.claims->may_publish("chat.room1"));
  EXPECT_FALSE(check.claims->may_publish("chat.room2"));
}

TEST_F(TokenVerifierTest, AcceptsPyJwtHs256) { expect_alice(verifier(TokenAlgorithm::hs256, "secret")->verify(py_sign("HS256", "secret", claims()), kNowTp)); }

TEST_F(TokenVerifierTest, AcceptsPyJwtEs256) {
  expect_alice(verifier(TokenAlgorithm::es256, "ec_pub.pem")->verify(py_sign("ES256", "ec.pem", claims()), kNowTp));
}

TEST_F(TokenVerifierTest, AcceptsPyJwtRs256) {
  expect_alice(verifier(TokenAlgorithm::rs256, "rsa_pub.pem")->verify(py_sign("RS256", "rsa.pem", claims()), kNowTp));
}

TEST_F(TokenVerifierTest, SecretFileLosesOneTrailingNewline) {
  write_file(*dir_ / "secret_nl", kVerifierSecret + "\n");
  expect_alice(verifier(TokenAlgorithm::hs256, "secret_nl")->verify(py_sign("HS256", "secret", claims()), kNowTp));
  // Only one: a secret that really ends in a newline keeps the rest.
  write_file(*dir_ / "secret_nl2", kVerifierSecret + "\n\n");
  const auto token = py_sign("HS256", "secret", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret_nl2")->verify(token, kNowTp), TokenFailure::bad_signature, token);
  // "\r\n" counts as the newline; a lone "\r" is part of the secret.
  write_file(*dir_ / "secret_crlf", kVerifierSecret + "\r\n");
  expect_alice(verifier(TokenAlgorithm::hs256, "secret_crlf")->verify(token, kNowTp));
  write_file(*dir_ / "secret_cr", kVerifierSecret + "\r");
  expect_refused(verifier(TokenAlgorithm::hs256, "secret_cr")->verify(token, kNowTp), TokenFailure::bad_signature, token);
}

TEST_F(TokenVerifierTest, RefusesWrongKey) {
  auto token = py_sign("HS256", "other_secret", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(token, kNowTp), TokenFailure::bad_signature, token);
  token = py_sign("ES256", "ec2.pem", claims());
  expect_refused(verifier(TokenAlgorithm::es256, "ec_pub.pem")->verify(token, kNowTp), TokenFailure::bad_signature, token);
}

TEST_F(TokenVerifierTest, RefusesForgedPayload) {
  // A real signature on other claims: swap in a payload granting more.
  const auto token = py_sign("HS256", "secret", claims());
  const auto dot1 = token.find('.');
  const auto dot2 = token.find('.', dot1 + 1);
  const std::string greedy = R"({"sub":"alice","exp":)" + std::to_string(kNow + 3600) + R"(,"subscribe":[">"]})";
  const auto forged = token.substr(0, dot1 + 1) + base64url_encode(greedy) + token.substr(dot2);
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(forged, kNowTp), TokenFailure::bad_signature, forged);
  // And one flipped signature character.
  auto flipped = token;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(flipped, kNowTp), TokenFailure::bad_signature, flipped);
}

TEST_F(TokenVerifierTest, RefusesAlgNone) {
  const auto token = forge(R"({"alg":"none","typ":"JWT"})", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(token, kNowTp), TokenFailure::wrong_algorithm, token);
  // "None" and "NONE" are not "HS256" either.
  const auto upper = forge(R"({"alg":"NONE"})", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(upper, kNowTp), TokenFailure::wrong_algorithm, upper);
}

TEST_F(TokenVerifierTest, RefusesHs256SignedWithThePublicKeyWhenRs256IsConfigured) {
  // The classic confusion attack: the attacker knows the public key and uses its text as an HMAC secret.
  const auto token = forge(R"({"alg":"HS256","typ":"JWT"})", claims(), "rsa_pub.pem");
  expect_refused(verifier(TokenAlgorithm::rs256, "rsa_pub.pem")->verify(token, kNowTp), TokenFailure::wrong_algorithm,
                 token);
  const auto ec = forge(R"({"alg":"HS256","typ":"JWT"})", claims(), "ec_pub.pem");
  expect_refused(verifier(TokenAlgorithm::es256, "ec_pub.pem")->verify(ec, kNowTp), TokenFailure::wrong_algorithm, ec);
}

TEST_F(TokenVerifierTest, RefusesOtherAlgorithmThanConfigured) {
  auto token = py_sign("ES256", "ec.pem", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(token, kNowTp), TokenFailure::wrong_algorithm, token);
  token = py_sign("HS512", "secret", claims());
  expect_refused(verifier(TokenAlgorithm::hs256, "secret")->verify(token, kNowTp), TokenFailure::wrong_algorithm, token);
  token = py_sign("RS256", "rsa.pem", claims());
  expect_refused(verifier(TokenAlgorithm::es256, "ec_pub.pem")->verify(token, kNowTp), TokenFailure::wrong_algorithm,
                 token);
}

TEST_F(TokenVerifierTest, ExpiryAndNotBefore) {
  const auto v = verifier(TokenAlgorithm::hs256, "secret");
  // exp is the first second the token is no longer valid (RFC 7519 §4.1.4).
  const auto token = py_sign("HS256", "secret", claims(10));
  EXPECT_TRUE(v->verify(token, kNowTp + std::chrono::seconds(9)));
  expect_refused(v->verify(token, kNowTp + std::chrono::seconds(10)), TokenFailure::expired, token);
  const auto past = py_sign("HS256", "secret", claims(-1));
  expect_refused(v->verify(past, kNowTp), TokenFailure::expired, past);
  EXPECT_EQ(v->verify(past, kNowTp).message, "token expired");

  const auto nbf = py_sign("HS256", "secret", R"({"exp":)" + std::to_string(kNow + 100) + R"(,"nbf":)" +
                                                  std::to_string(kNow + 5) + "}");
  expect_refused(v->verify(nbf, kNowTp), TokenFailure::not_yet_valid, nbf);
  EXPECT_TRUE(v->verify(nbf, kNowTp + std::chrono::seconds(5)));

  // A leeway forgives that much skew on both ends, and no more.
  const auto lenient = verifier(TokenAlgorithm::hs256, "secret", std::chrono::seconds(5));
  EXPECT_TRUE(lenient->verify(nbf, kNowTp));
  expect_refused(lenient->verify(nbf, kNowTp - std::chrono::seconds(1)), TokenFailure::not_yet_valid, nbf);
  EXPECT_TRUE(lenient->verify(past, kNowTp));
  expect_refused(lenient->verify(past, kNowTp + std::chrono::seconds(4)), TokenFailure::expired, past);
}

TEST_F(TokenVerifierTest, RefusesMissingOrBadExp) {
  const auto v = verifier(TokenAlgorithm::hs256, "secret");
  for (const char* c : {R"({"sub":"alice"})", R"({"exp":"tomorrow"})", R"({"exp":1e300})", R"({"exp":-1e300})"}) {
    const auto token = py_sign("HS256", "secret", c);
    expect_refused(v->verify(token, kNowTp), TokenFailure::invalid_claims, token);
  }
  // An integer beyond int64: libjwt's JSON parser (jansson) refuses the payload inside
  // jwt_decode, which cannot tell that from a bad signature. Refused all the same.
  const auto huge = py_sign("HS256", "secret", R"({"exp":99999999999999999999})");
  EXPECT_FALSE(v->verify(huge, kNowTp));
  EXPECT_EQ(v->verify(py_sign("HS256", "secret", R"({"sub":"a"})"), kNowTp).message,
            "token claims invalid: no exp (tokens must expire)");
  // A fractional exp counts down, a fractional nbf up.
  const auto frac = py_sign("HS256", "secret", R"({"exp":)" + std::to_string(kNow) + R"(.9})");
  expect_refused(v->verify(frac, kNowTp), TokenFailure::expired, frac);
}

TEST_F(TokenVerifierTest, RefusesClaimsOfTheWrongShape) {
  const auto v = verifier(TokenAlgorithm::hs256, "secret");
  const std::string exp = R"("exp":)" + std::to_string(kNow + 60);
  for (const char* extra : {R"("subscribe":"orders.>")", R"("subscribe":[1])", R"("publish":["a..b"])",
                                  R"("publish":["a.>.b"])", R"("sub":42)", R"("sub":"eve\nFAKE LOG LINE")",
                                  R"("channels":{"a":1})", R"("nbf":"soon")"}) {
    const auto token = py_sign("HS256", "secret", "{" + exp + "," + std::string(extra) + "}");
    expect_refused(v->verify(token, kNowTp), TokenFailure::invalid_claims, token);
  }
  // Claims Sluice does not know are ignored; absent arrays allow nothing.
  const auto token = py_sign("HS256", "secret", "{" + exp + R"(,"iss":"me","info":{"x":1}})");
  const auto check = v->verify(token, kNowTp);
  ASSERT_TRUE(check) << check.message;
  EXPECT_TRUE(check.claims->sub.empty());
  EXPECT_FALSE(check.claims->may_subscribe("x"));
  EXPECT_FALSE(check.claims->may_publish("x"));
}

TEST_F(TokenVerifierTest, RefusesGarbage) {
  const auto v = verifier(TokenAlgorithm::hs256, "secret");
  expect_refused(v->verify("", kNowTp), TokenFailure::missing, "");
  EXPECT_EQ(v->verify("", kNowTp).message, "missing token");
  const auto good = py_sign("HS256", "secret", claims());
  const auto dot1 = good.find('.');
  const auto dot2 = good.find('.', dot1 + 1);
  for (const std::string& bad :
       {std::string("garbage"), std::string("a.b"), std::string("a.b.c.d.e"), std::string("..."), std::string(".."),
        std::string("!!!.@@@.###"), base64url_encode("[1,2]") + good.substr(dot1),           // header not an object
        base64url_encode("{}") + good.substr(dot1),                                           // no alg
        good.substr(0, dot1 + 1) + base64url_encode("not json") + good.substr(dot2),         // payload not JSON
        good.substr(0, dot1 + 1) + "=" + good.substr(dot1 + 1),                              // padding
        base64url_encode(R"({"alg":"HS256","crit":["exp"]})") + good.substr(dot1),          // unknown crit
        base64url_encode(R"({"alg":"HS256","typ":"JOSE+JSON"})") + good.substr(dot1),       // not a JWT
        std::string(kMaxTokenLength + 1, 'a')}) {
    expect_refused(v->verify(bad, kNowTp), TokenFailure::malformed, bad);
  }
  // typ is case-insensitive: "jwt" is a JWT too.
  const auto lower = py_sign("HS256", "secret", claims(), R"({"typ":"jwt"})");
  EXPECT_TRUE(v->verify(lower, kNowTp)) << v->verify(lower, kNowTp).message;
  // Right shape, no signature at all.
  expect_refused(v->verify(good.substr(0, dot2 + 1), kNowTp), TokenFailure::bad_signature, good);
}

TEST_F(TokenVerifierTest, SettingsAndKeysAreChecked) {
  std::string error;
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::hs256, "", std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("--jwt-secret-file"), std::string::npos) << error;
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::hs256, path("nope"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  write_file(*dir_ / "short", "short-secret\n");
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::hs256, path("short"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("at least 32"), std::string::npos) << error;
  EXPECT_EQ(error.find("short-secret"), std::string::npos) << error;  // never the secret
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::hs256, path("secret"), std::chrono::seconds(301)}, error));
  // RS256 needs an RSA public key: not the EC one, not the private key, not a secret.
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::rs256, path("ec_pub.pem"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("not an RSA public key"), std::string::npos) << error;
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::rs256, path("rsa.pem"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("private key"), std::string::npos) << error;
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::es256, path("secret"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("not a PEM public key"), std::string::npos) << error;
  EXPECT_EQ(error.find(kVerifierSecret), std::string::npos) << error;
  EXPECT_FALSE(TokenVerifier::create({TokenAlgorithm::es256, path("rsa_pub.pem"), std::chrono::seconds(0)}, error));
  EXPECT_NE(error.find("not an EC public key"), std::string::npos) << error;
}

TEST_F(TokenVerifierTest, ManyThreadsVerifyAtOnce) {
  const auto v = verifier(TokenAlgorithm::es256, "ec_pub.pem");
  const auto good = py_sign("ES256", "ec.pem", claims());
  const auto bad = py_sign("ES256", "ec2.pem", claims());
  std::atomic<int> accepted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (v->verify(good, kNowTp)) ++accepted;
        if (!v->verify(bad, kNowTp)) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 800);
  EXPECT_EQ(refused.load(), 800);
}

}  // namespace
}  // namespace sluice::auth
