// UTF-8 validation (RFC 3629) as RFC 6455 §8.1 needs it: incremental, fail-fast.
#include "sluice/protocol/utf8.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

#include "protocol/test_util.hpp"

namespace sluice::protocol::test {
namespace {

// Feeds `s` one byte at a time; returns the index of the first byte feed() rejected.
std::optional<std::size_t> fail_index_bytewise(std::span<const std::uint8_t> s, Utf8Validator& v) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!v.feed(s.subspan(i, 1))) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> fail_index_bytewise(std::span<const std::uint8_t> s) {
  Utf8Validator v;
  return fail_index_bytewise(s, v);
}

// ---------------------------------------------------------------------------
// Valid input, RFC 3629 §4 boundaries

struct ValidCase {
  const char* name;
  const char* hex;
};

TEST(Utf8Valid, CodePointBoundaries) {
  const ValidCase cases[] = {
      {"U+0000", "00"},          {"U+007F", "7f"},          {"U+0080", "c2 80"},       {"U+07FF", "df bf"},
      {"U+0800", "e0 a0 80"},    {"U+D7FF", "ed 9f bf"},    {"U+E000", "ee 80 80"},    {"U+FFFD", "ef bf bd"},
      {"U+FFFF", "ef bf bf"},    {"U+10000", "f0 90 80 80"}, {"U+3FFFF", "f0 bf bf bf"}, {"U+40000", "f1 80 80 80"},
      {"U+FFFFF", "f3 bf bf bf"}, {"U+100000", "f4 80 80 80"}, {"U+10FFFF", "f4 8f bf bf"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Bytes b = from_hex(c.hex);
    ASSERT_TRUE(ref_utf8(b).valid());  // the table itself
    EXPECT_TRUE(is_valid_utf8(b));
    Utf8Validator v;
    EXPECT_TRUE(v.feed(b));
    EXPECT_TRUE(v.complete());
    EXPECT_FALSE(v.failed());
    // Byte by byte: never fails, complete only after the last byte.
    Utf8Validator w;
    for (std::size_t i = 0; i < b.size(); ++i) {
      EXPECT_TRUE(w.feed(std::span(b).subspan(i, 1)));
      EXPECT_EQ(w.complete(), i + 1 == b.size()) << "after byte " << i;
    }
  }
}

TEST(Utf8Valid, EncodedCodePointsAtEveryLengthBoundary) {
  // Our own encoder, independent of the validator; both sides of each length boundary.
  for (std::uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    SCOPED_TRACE(cp);
    const Bytes b = encode_utf8(cp);
    EXPECT_EQ(b.size(), cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u);
    EXPECT_TRUE(is_valid_utf8(b));
  }
}

TEST(Utf8Valid, EmptyInputAndEmptyChunks) {
  EXPECT_TRUE(is_valid_utf8({}));
  Utf8Validator v;
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed({}));
  EXPECT_TRUE(v.complete());
  const Bytes lead = from_hex("e2");
  EXPECT_TRUE(v.feed(lead));
  EXPECT_TRUE(v.feed({}));  // an empty chunk keeps the partial sequence
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed(from_hex("82 ac")));  // U+20AC
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Valid, EveryCodePointOfTheBmpAndSamplesAbove) {
  Bytes all;
  for (std::uint32_t cp = 0; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const Bytes enc = encode_utf8(cp);
    all.insert(all.end(), enc.begin(), enc.end());
  }
  for (std::uint32_t cp = 0x10000; cp <= 0x10FFFF; cp += 0x101) {
    const Bytes enc = encode_utf8(cp);
    all.insert(all.end(), enc.begin(), enc.end());
  }
  EXPECT_TRUE(is_valid_utf8(all));
  Utf8Validator v;
  EXPECT_TRUE(v.feed(all));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Valid, EverySurrogateIsInvalidAndFailsAtTheSecondByte) {
  for (std::uint32_t cp = 0xD800; cp <= 0xDFFF; ++cp) {
    const Bytes b{0xED, static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)), static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
    ASSERT_FALSE(is_valid_utf8(b)) << std::hex << cp;
    ASSERT_EQ(fail_index_bytewise(b), 1u) << std::hex << cp;
  }
}

// ---------------------------------------------------------------------------
// Invalid input and the exact fail-fast position

struct InvalidCase {
  const char* name;
  const char* hex;
  std::optional<std::size_t> fail_at;  // none: truncated (never rejected, but not complete)
};

const InvalidCase kInvalid[] = {
    {"overlong 2-byte C0 80 (NUL)", "c0 80", 0},
    {"overlong 2-byte C0 AF ('/')", "c0 af", 0},
    {"overlong 2-byte C1 BF (max)", "c1 bf", 0},
    {"overlong 3-byte E0 80 80", "e0 80 80", 1},
    {"overlong 3-byte E0 80 AF", "e0 80 af", 1},
    {"overlong 3-byte E0 9F BF (max)", "e0 9f bf", 1},
    {"overlong 4-byte F0 80 80 80", "f0 80 80 80", 1},
    {"overlong 4-byte F0 80 80 AF", "f0 80 80 af", 1},
    {"overlong 4-byte F0 8F BF BF (max)", "f0 8f bf bf", 1},
    {"surrogate U+D800 ED A0 80", "ed a0 80", 1},
    {"surrogate U+DB7F ED AD BF", "ed ad bf", 1},
    {"surrogate U+DC00 ED B0 80", "ed b0 80", 1},
    {"surrogate U+DFFF ED BF BF", "ed bf bf", 1},
    {"paired surrogates", "ed a0 80 ed b0 80", 1},
    {"above U+10FFFF: F4 90 80 80", "f4 90 80 80", 1},
    {"above U+10FFFF: F4 BF BF BF", "f4 bf bf bf", 1},
    {"lead F5", "f5 80 80 80", 0},
    {"lead F7", "f7 bf bf bf", 0},
    {"5-byte form F8", "f8 88 80 80 80", 0},
    {"6-byte form FC", "fc 84 80 80 80 80", 0},
    {"FE", "fe", 0},
    {"FF", "ff", 0},
    {"FE FE FF FF", "fe fe ff ff", 0},
    {"lone continuation 80", "80", 0},
    {"lone continuation BF", "bf", 0},
    {"continuation after ASCII", "41 42 80", 2},
    {"continuation after a complete 2-byte", "c3 a9 a9", 2},
    {"2-byte lead then ASCII", "c2 41", 1},
    {"3-byte lead then ASCII", "e1 80 41", 2},
    {"4-byte lead then ASCII", "f1 80 80 41", 3},
    {"lead then lead", "e2 e2 82 ac", 1},
    {"lonely start C2 then space", "c2 20", 1},
    {"lonely start E0 then space", "e0 20", 1},
    {"lonely start F0 then space", "f0 20", 1},
    {"truncated 2-byte", "c2", std::nullopt},
    {"truncated 3-byte (1 of 2)", "e1", std::nullopt},
    {"truncated 3-byte (2 of 3)", "e1 80", std::nullopt},
    {"truncated E0 A0", "e0 a0", std::nullopt},
    {"truncated ED 9F", "ed 9f", std::nullopt},
    {"truncated 4-byte F1 80 80", "f1 80 80", std::nullopt},
    {"truncated F4 8F BF", "f4 8f bf", std::nullopt},
    {"truncated after valid text", "48 69 e2 82", std::nullopt},
};

TEST(Utf8Invalid, RejectedAtTheFirstImpossibleByte) {
  for (const auto& c : kInvalid) {
    SCOPED_TRACE(c.name);
    const Bytes b = from_hex(c.hex);
    // The table agrees with the reference validator.
    const RefUtf8 ref = ref_utf8(b);
    ASSERT_EQ(ref.fail_at, c.fail_at);
    ASSERT_FALSE(ref.valid());

    EXPECT_FALSE(is_valid_utf8(b));
    Utf8Validator v;
    EXPECT_EQ(fail_index_bytewise(b, v), c.fail_at);
    EXPECT_EQ(v.failed(), c.fail_at.has_value());
    EXPECT_FALSE(v.complete());

    Utf8Validator whole;
    EXPECT_EQ(whole.feed(b), !c.fail_at.has_value());
    EXPECT_FALSE(whole.complete());
  }
}

TEST(Utf8Invalid, SplitAcrossTwoChunksFailsInTheChunkHoldingTheBadByte) {
  for (const auto& c : kInvalid) {
    SCOPED_TRACE(c.name);
    const Bytes b = from_hex(c.hex);
    for (std::size_t cut = 0; cut <= b.size(); ++cut) {
      SCOPED_TRACE(cut);
      Utf8Validator v;
      const bool first_ok = v.feed(std::span(b).first(cut));
      const bool bad_in_first = c.fail_at && *c.fail_at < cut;
      EXPECT_EQ(first_ok, !bad_in_first);
      const bool second_ok = v.feed(std::span(b).subspan(cut));
      EXPECT_EQ(second_ok, !c.fail_at.has_value());
      EXPECT_FALSE(v.complete());
    }
  }
}

TEST(Utf8Invalid, StaysFailedUntilReset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed(from_hex("ff")));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.feed(from_hex("41")));  // valid input after failure does not revive it
  EXPECT_FALSE(v.feed({}));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed(from_hex("41 c3 a9")));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Invalid, ResetDropsAPartialSequence) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(from_hex("f0 9f")));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.complete());
  // A continuation right after reset is a lone continuation.
  EXPECT_FALSE(v.feed(from_hex("98")));
}

TEST(Utf8Valid, CopyKeepsThePartialState) {
  Utf8Validator v;
  ASSERT_TRUE(v.feed(from_hex("f0 9f 98")));
  Utf8Validator copy = v;
  EXPECT_TRUE(copy.feed(from_hex("80")));  // U+1F600
  EXPECT_TRUE(copy.complete());
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.feed(from_hex("41")));
}

// ---------------------------------------------------------------------------
// The 16-byte ASCII fast path

TEST(Utf8FastPath, OneBadByteInAsciiAtEveryPosition) {
  for (std::uint8_t bad : {0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF}) {
    for (std::size_t len : {41u, 64u, 100u}) {
      for (std::size_t pos = 0; pos <= 40; ++pos) {
        SCOPED_TRACE(::testing::Message() << "bad " << unsigned{bad} << " at " << pos << " of " << len);
        Bytes s(len, 'a');
        for (std::size_t i = 0; i < len; ++i) s[i] = static_cast<std::uint8_t>('!' + i % 90);
        s[pos] = bad;
        EXPECT_FALSE(is_valid_utf8(s));
        EXPECT_EQ(fail_index_bytewise(s), pos);
        Utf8Validator whole;
        EXPECT_FALSE(whole.feed(s));
        // Chunks of 16 bytes (the first one shorter): the chunk that fails is the one holding `pos`.
        for (std::size_t first : {16u, 5u, 15u}) {
          std::vector<std::size_t> bounds{0};
          for (std::size_t e = first; e < len; e += 16) bounds.push_back(e);
          bounds.push_back(len);
          Utf8Validator v;
          std::optional<std::size_t> failed_chunk;
          for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
            const bool ok = v.feed(std::span(s).subspan(bounds[k], bounds[k + 1] - bounds[k]));
            if (!ok && !failed_chunk) failed_chunk = k;
          }
          ASSERT_TRUE(failed_chunk.has_value());
          EXPECT_LE(bounds[*failed_chunk], pos);
          EXPECT_LT(pos, bounds[*failed_chunk + 1]);
        }
      }
    }
  }
}

TEST(Utf8FastPath, BadSecondByteAfterAsciiRunOfEveryLength) {
  // The DFA leaves the fast path mid-sequence; the failure must land on the second byte.
  for (std::size_t run = 0; run <= 40; ++run) {
    for (const char* seq : {"e0 80", "ed a0", "f4 90", "f0 8f", "c2 41"}) {
      SCOPED_TRACE(::testing::Message() << seq << " after " << run << " ASCII bytes");
      Bytes s(run, 'x');
      const Bytes tail = from_hex(seq);
      s.insert(s.end(), tail.begin(), tail.end());
      s.insert(s.end(), 20, 'y');
      EXPECT_FALSE(is_valid_utf8(s));
      EXPECT_EQ(fail_index_bytewise(s), run + 1);
    }
  }
}

TEST(Utf8FastPath, MultiByteCharacterAtEveryPositionOfAnAsciiRun) {
  for (const char* seq : {"c3 a9", "e2 82 ac", "f0 9f 98 80", "f4 8f bf bf", "ef bf bf"}) {
    const Bytes ch = from_hex(seq);
    for (std::size_t pos = 0; pos <= 40; ++pos) {
      SCOPED_TRACE(::testing::Message() << seq << " at " << pos);
      Bytes s(pos, 'q');
      s.insert(s.end(), ch.begin(), ch.end());
      s.insert(s.end(), 40, 'r');
      EXPECT_TRUE(is_valid_utf8(s));
      Utf8Validator v;
      EXPECT_TRUE(v.feed(s));
      EXPECT_TRUE(v.complete());
      // The same, cut after every byte of the character.
      for (std::size_t k = 1; k < ch.size(); ++k) {
        Utf8Validator w;
        EXPECT_TRUE(w.feed(std::span(s).first(pos + k)));
        EXPECT_FALSE(w.complete());
        EXPECT_TRUE(w.feed(std::span(s).subspan(pos + k)));
        EXPECT_TRUE(w.complete());
      }
      // Truncated at the end of a long run.
      Bytes t(pos + 20, 'z');
      t.insert(t.end(), ch.begin(), ch.end() - 1);
      EXPECT_FALSE(is_valid_utf8(t));
      Utf8Validator u;
      EXPECT_TRUE(u.feed(t));
      EXPECT_FALSE(u.complete());
    }
  }
}

TEST(Utf8FastPath, LongAsciiRuns) {
  Bytes s(100000, 'a');
  EXPECT_TRUE(is_valid_utf8(s));
  s[99999] = 0x80;
  EXPECT_FALSE(is_valid_utf8(s));
  s[99999] = 'a';
  s[65536] = 0xC3;  // lead without continuation, mid-run
  EXPECT_FALSE(is_valid_utf8(s));
  Utf8Validator v;
  EXPECT_TRUE(v.feed(std::span(s).first(65537)));
  EXPECT_FALSE(v.feed(std::span(s).subspan(65537, 1)));
}

// ---------------------------------------------------------------------------
// Autobahn TestSuite section 6 (UTF-8 handling) payloads

TEST(Utf8Autobahn, ValidPayloads) {
  using namespace std::string_view_literals;
  const std::string_view valid[] = {
      "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"sv,  // 6.2.x
      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"sv,                              // 6.5.1 "kosme"
      "\x00"sv, "\xc2\x80"sv, "\xe0\xa0\x80"sv, "\xf0\x90\x80\x80"sv,                  // 6.7.x first of each length
      "\x7f"sv, "\xdf\xbf"sv, "\xef\xbf\xbf"sv, "\xf4\x8f\xbf\xbf"sv,                  // 6.9.x last of each length
      "\xed\x9f\xbf"sv, "\xee\x80\x80"sv, "\xef\xbf\xbd"sv,                            // 6.11.x other boundaries
      "\xef\xbf\xbe"sv, "\xf0\x9f\xbf\xbe"sv, "\xf0\x9f\xbf\xbf"sv, "\xf4\x8f\xbf\xbe"sv,  // 6.22.x noncharacters
      "\xef\xb7\x90"sv, "\xef\xb7\xaf"sv,                                                // U+FDD0, U+FDEF
  };
  EXPECT_EQ(valid[0].size(), 29u);
  EXPECT_EQ(valid[2].size(), 1u);
  for (const std::string_view sv : valid) {
    SCOPED_TRACE(to_hex(as_span(sv)));
    const Bytes b = to_bytes(sv);
    EXPECT_TRUE(ref_utf8(b).valid());
    EXPECT_TRUE(is_valid_utf8(b));
    EXPECT_EQ(fail_index_bytewise(b), std::nullopt);
  }
}

TEST(Utf8Autobahn, KosmeByteByBytePrefixes) {
  // 6.6.x: every prefix of "κόσμε" is valid exactly at code point boundaries, never rejected.
  const Bytes kosme = from_hex("ce ba e1 bd b9 cf 83 ce bc ce b5");
  for (std::size_t n = 0; n <= kosme.size(); ++n) {
    const std::span<const std::uint8_t> prefix(kosme.data(), n);
    const bool boundary = n == 0 || n == 2 || n == 5 || n == 7 || n == 9 || n == 11;
    EXPECT_EQ(is_valid_utf8(prefix), boundary) << n;
    Utf8Validator v;
    EXPECT_TRUE(v.feed(prefix)) << n;
    EXPECT_EQ(v.complete(), boundary) << n;
  }
}

TEST(Utf8Autobahn, InvalidPayloadsFailFast) {
  struct Case {
    const char* hex;
    std::size_t fail_at;
  };
  const Case cases[] = {
      {"ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64", 12},  // 6.3.1
      {"ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64", 12},  // 6.4.1-6.4.4
      {"f8 88 80 80 80", 0},                                                // 6.8.1
      {"fc 84 80 80 80 80", 0},                                             // 6.8.2
      {"f7 bf bf bf", 0},                                                   // 6.10.1
      {"fb bf bf bf bf", 0},                                                // 6.10.2
      {"fd bf bf bf bf bf", 0},                                             // 6.10.3
      {"f4 90 80 80", 1},                                                   // 6.11.5
      {"80 bf 80 bf", 0},                                                   // 6.12.x
      {"c0 20 c1 20 c2 20", 0},                                             // 6.13.1
      {"e0 20 e1 20", 1},                                                   // 6.13.2
      {"c0 e0 80 f0 80 80 f7 80 80 80 df ef bf fb bf bf bf", 0},            // 6.15.1
      {"ed a0 80 ed b0 80", 1},                                             // 6.21.1
      {"ed af bf ed bf bf", 1},                                             // 6.21.8
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hex);
    const Bytes b = from_hex(c.hex);
    EXPECT_EQ(ref_utf8(b).fail_at, c.fail_at);
    EXPECT_FALSE(is_valid_utf8(b));
    EXPECT_EQ(fail_index_bytewise(b), c.fail_at);
  }
  // 6.4.3/6.4.4: the same payload in the Autobahn parts; the part holding the 0x90 fails.
  const Bytes head = from_hex("ce ba e1 bd b9 cf 83 ce bc ce b5");
  Utf8Validator v;
  EXPECT_TRUE(v.feed(head));
  EXPECT_TRUE(v.feed(from_hex("f4")));
  EXPECT_FALSE(v.feed(from_hex("90")));
}

// ---------------------------------------------------------------------------
// Against the reference, on random byte strings

// Bytes biased toward UTF-8 structure: leads, continuations, and the special leads.
Bytes random_utf8ish(std::mt19937& rng, std::size_t max_len) {
  static const std::uint8_t specials[] = {0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF,
                                          0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFE, 0xFF, 0x7F,
                                          0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
  const std::size_t len = rng() % (max_len + 1);
  Bytes s;
  while (s.size() < len) {
    switch (rng() % 6) {
      case 0: s.push_back(static_cast<std::uint8_t>(rng() % 0x80)); break;
      case 1: s.push_back(static_cast<std::uint8_t>(0x80 + rng() % 0x40)); break;
      case 2: s.push_back(specials[rng() % std::size(specials)]); break;
      case 3: s.push_back(static_cast<std::uint8_t>(rng())); break;
      default: {
        const Bytes ok = random_utf8(1, rng);
        s.insert(s.end(), ok.begin(), ok.end());
      }
    }
  }
  return s;
}

TEST(Utf8Random, AgreesWithTheReferenceValidator) {
  std::mt19937 rng(20240601);
  std::size_t valid_count = 0, invalid_count = 0, truncated_count = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const Bytes s = random_utf8ish(rng, iter % 10 == 0 ? 200 : 24);
    const RefUtf8 ref = ref_utf8(s);
    SCOPED_TRACE(to_hex(s));
    ASSERT_EQ(is_valid_utf8(s), ref.valid());
    Utf8Validator v;
    ASSERT_EQ(fail_index_bytewise(s, v), ref.fail_at);
    ASSERT_EQ(v.complete(), ref.valid());
    ASSERT_EQ(v.failed(), ref.fail_at.has_value());
    // Two random cuts: the chunk that fails is the one holding ref.fail_at.
    std::size_t a = s.empty() ? 0 : rng() % (s.size() + 1), b = s.empty() ? 0 : rng() % (s.size() + 1);
    if (a > b) std::swap(a, b);
    Utf8Validator w;
    const bool r1 = w.feed(std::span(s).first(a));
    const bool r2 = w.feed(std::span(s).subspan(a, b - a));
    const bool r3 = w.feed(std::span(s).subspan(b));
    ASSERT_EQ(r1, !(ref.fail_at && *ref.fail_at < a));
    ASSERT_EQ(r2, !(ref.fail_at && *ref.fail_at < b));
    ASSERT_EQ(r3, !ref.fail_at);
    ASSERT_EQ(w.complete(), ref.valid());
    if (ref.valid()) ++valid_count;
    else if (ref.fail_at) ++invalid_count;
    else ++truncated_count;
  }
  // The generator must exercise all three outcomes.
  EXPECT_GT(valid_count, 1000u);
  EXPECT_GT(invalid_count, 1000u);
  EXPECT_GT(truncated_count, 200u);
}

TEST(Utf8Random, LongValidTextWithOneMutation) {
  std::mt19937 rng(77);
  for (int iter = 0; iter < 2000; ++iter) {
    Bytes s = random_utf8(1 + rng() % 300, rng);
    // Mostly ASCII runs, so the fast path is taken, with some multi-byte text.
    if (iter % 2 == 0) {
      std::size_t at = rng() % s.size();
      while (at > 0 && (s[at] & 0xC0) == 0x80) --at;  // at a code point boundary
      s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), 1 + rng() % 64, 'k');
    }
    ASSERT_TRUE(is_valid_utf8(s));
    const std::size_t pos = rng() % s.size();
    s[pos] = static_cast<std::uint8_t>(rng());
    const RefUtf8 ref = ref_utf8(s);
    SCOPED_TRACE(to_hex(s, 400));
    ASSERT_EQ(is_valid_utf8(s), ref.valid());
    ASSERT_EQ(fail_index_bytewise(s), ref.fail_at);
  }
}

// Long strings (the bulk/SIMD path): mostly valid text with long ASCII runs and 0-3 mutations.
TEST(Utf8Random, LongStringsInChunksAgainstTheReference) {
  std::mt19937 rng(4096);
  std::size_t invalid_seen = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes s;
    const std::size_t target = 1 + rng() % (iter % 10 == 0 ? 5000 : 600);
    while (s.size() < target) {
      if (rng() % 3 == 0) {
        s.insert(s.end(), 1 + rng() % 80, static_cast<std::uint8_t>('A' + rng() % 26));
      } else {
        const Bytes t = random_utf8(1 + rng() % 40, rng);
        s.insert(s.end(), t.begin(), t.end());
      }
    }
    const int mutations = static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = static_cast<std::uint8_t>(rng()); break;
        case 1: s.erase(s.begin() + static_cast<std::ptrdiff_t>(at)); break;  // may cut a character
        default: s[at] = static_cast<std::uint8_t>(0x80 | (rng() & 0x7F)); break;
      }
      if (s.empty()) s.push_back('x');
    }
    const RefUtf8 ref = ref_utf8(s);
    SCOPED_TRACE(::testing::Message() << "iteration " << iter << " size " << s.size());
    ASSERT_EQ(is_valid_utf8(s), ref.valid()) << to_hex(s, 2000);
    {
      Utf8Validator v;
      ASSERT_EQ(v.feed(s), !ref.fail_at);
      ASSERT_EQ(v.complete(), ref.valid());
    }
    if (ref.fail_at) {
      ++invalid_seen;
      // Everything before the bad byte is accepted in one chunk (it may end mid-character) ...
      Utf8Validator v;
      ASSERT_TRUE(v.feed(std::span(s).first(*ref.fail_at))) << to_hex(s, 2000);
      // ... and the bad byte alone fails.
      ASSERT_FALSE(v.feed(std::span(s).subspan(*ref.fail_at, 1)));
    }
    // Random chunks: the first chunk that fails is the one holding the bad byte.
    Utf8Validator w;
    std::optional<std::size_t> failed_chunk_end;
    std::size_t start = 0;
    while (start < s.size()) {
      const std::size_t end = std::min(s.size(), start + 1 + rng() % (rng() % 2 ? 8 : 300));
      if (!w.feed(std::span(s).subspan(start, end - start)) && !failed_chunk_end) failed_chunk_end = end;
      if (failed_chunk_end) break;
      start = end;
    }
    if (ref.fail_at) {
      ASSERT_TRUE(failed_chunk_end.has_value());
      ASSERT_GE(*ref.fail_at, start);
      ASSERT_LT(*ref.fail_at, *failed_chunk_end);
    } else {
      ASSERT_FALSE(failed_chunk_end.has_value());
      ASSERT_EQ(w.complete(), ref.complete);
    }
  }
  EXPECT_GT(invalid_seen, 1000u);
}

TEST(Utf8Random, ValidTextCutAnywhereIsAccepted) {
  std::mt19937 rng(31);
  for (int iter = 0; iter < 500; ++iter) {
    const Bytes s = random_utf8(1 + rng() % 3000, rng);
    ASSERT_TRUE(is_valid_utf8(s));
    for (int k = 0; k < 8; ++k) {
      const std::size_t cut = rng() % (s.size() + 1);
      Utf8Validator v;
      ASSERT_TRUE(v.feed(std::span(s).first(cut))) << cut;
      ASSERT_EQ(v.complete(), ref_utf8(std::span(s).first(cut)).valid());
      ASSERT_TRUE(v.feed(std::span(s).subspan(cut))) << cut;
      ASSERT_TRUE(v.complete());
    }
  }
}

TEST(Utf8FastPath, ErrorInEveryPositionOfA32ByteBlock) {
  // Blocks of 32 (SIMD width) and 16 (word path): a bad byte or truncated sequence at each offset,
  // after valid multi-byte text, in strings of several lengths.
  for (std::size_t len : {31u, 32u, 33u, 63u, 64u, 65u, 96u, 130u}) {
    Bytes base;
    std::mt19937 rng(static_cast<std::uint32_t>(len));
    while (base.size() < len) {
      const Bytes t = random_utf8(1, rng);
      if (base.size() + t.size() > len) {
        base.push_back('.');
      } else {
        base.insert(base.end(), t.begin(), t.end());
      }
    }
    ASSERT_TRUE(is_valid_utf8(base));
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (std::uint8_t bad : {0x80, 0xC0, 0xED, 0xF4, 0xFF}) {
        Bytes s = base;
        s[pos] = bad;
        const RefUtf8 ref = ref_utf8(s);
        ASSERT_EQ(is_valid_utf8(s), ref.valid()) << "len " << len << " pos " << pos << " bad " << unsigned{bad} << ": " << to_hex(s, 200);
        Utf8Validator v;
        ASSERT_EQ(v.feed(s), !ref.fail_at);
        ASSERT_EQ(v.complete(), ref.valid());
      }
    }
    // A character cut at the very end.
    for (const char* tail : {"c3", "e2 82", "f0 9f 98"}) {
      const Bytes s = cat(std::span(base).first(len - 3), from_hex(tail));
      const RefUtf8 ref = ref_utf8(s);
      ASSERT_EQ(is_valid_utf8(s), ref.valid()) << to_hex(s, 200);
      Utf8Validator v;
      ASSERT_EQ(v.feed(s), !ref.fail_at);
      ASSERT_EQ(v.complete(), ref.valid());
    }
  }
}

}  // namespace
}  // namespace sluice::protocol::test
