// base64url: RFC 4648 §10 test vectors (in the URL alphabet, unpadded) and
// the strictness that gives each value exactly one spelling.
#include <gtest/gtest.h>

#include "sluice/auth/base64url.hpp"

namespace sluice::auth {
namespace {

TEST(Base64Url, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    EXPECT_EQ(base64url_decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64Url, UsesTheUrlAlphabet) {
  const std::string bytes = "\xfb\xff\xbf";  // 111110 111111 111110 111111: '+', '/', '+', '/' in plain base64
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), bytes);
  EXPECT_FALSE(base64url_decode("+/+/"));
}

TEST(Base64Url, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 17) {
    EXPECT_EQ(base64url_decode(base64url_encode(all.substr(0, n))), all.substr(0, n));
  }
}

TEST(Base64Url, RefusesNonCanonicalText) {
  EXPECT_FALSE(base64url_decode("Zg=="));   // padding
  EXPECT_FALSE(base64url_decode("Z"));      // 6 bits: no whole byte
  EXPECT_FALSE(base64url_decode("Zh"));     // unused bits set: "Zg" is the one spelling of "f"
  EXPECT_FALSE(base64url_decode("Zm9"));    // same for two bytes ("Zm8")
  EXPECT_FALSE(base64url_decode("Zm 9v"));  // space
  EXPECT_FALSE(base64url_decode("Zm9v\n"));
}

}  // namespace
}  // namespace sluice::auth
