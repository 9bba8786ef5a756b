// The SSRF guard: default refusals over IPv4, IPv6 and IPv6 forms carrying
// IPv4, CIDR parsing, and the allowlist.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/webhook/address_policy.hpp"

namespace {

using namespace sluice::webhook;
namespace ip = boost::asio::ip;

ip::address addr(const char* text) { return ip::make_address(text); }

struct Case {
  const char* address;
  AddressClass expected;
};

TEST(AddressPolicy, ClassifiesSpecialPurposeAddresses) {
  const std::vector<Case> cases = {
      // IPv4
      {"0.0.0.0", AddressClass::unspecified},
      {"0.1.2.3", AddressClass::this_network},
      {"0.255.255.255", AddressClass::this_network},
      {"10.0.0.1", AddressClass::private_use},
      {"10.255.255.255", AddressClass::private_use},
      {"100.64.0.1", AddressClass::shared},
      {"100.127.255.254", AddressClass::shared},
      {"127.0.0.1", AddressClass::loopback},
      {"127.255.0.9", AddressClass::loopback},
      {"169.254.169.254", AddressClass::link_local},
      {"169.254.0.1", AddressClass::link_local},
      {"172.16.0.1", AddressClass::private_use},
      {"172.31.255.255", AddressClass::private_use},
      {"192.168.1.1", AddressClass::private_use},
      {"192.0.0.8", AddressClass::reserved},
      {"192.0.2.1", AddressClass::reserved},
      {"198.18.0.1", AddressClass::reserved},
      {"198.19.255.255", AddressClass::reserved},
      {"198.51.100.7", AddressClass::reserved},
      {"203.0.113.9", AddressClass::reserved},
      {"224.0.0.1", AddressClass::multicast},
      {"239.255.255.250", AddressClass::multicast},
      {"240.0.0.1", AddressClass::reserved},
      {"255.255.255.255", AddressClass::broadcast},
      // IPv4: near misses that are ordinary public addresses
      {"8.8.8.8", AddressClass::global},
      {"1.1.1.1", AddressClass::global},
      {"100.63.255.255", AddressClass::global},
      {"100.128.0.0", AddressClass::global},
      {"169.253.255.255", AddressClass::global},
      {"169.255.0.0", AddressClass::global},
      {"172.15.255.255", AddressClass::global},
      {"172.32.0.0", AddressClass::global},
      {"192.167.255.255", AddressClass::global},
      {"192.169.0.0", AddressClass::global},
      {"11.0.0.0", AddressClass::global},
      {"223.255.255.255", AddressClass::global},
      {"126.255.255.255", AddressClass::global},
      {"128.0.0.0", AddressClass::global},
      // IPv6
      {"::", AddressClass::unspecified},
      {"::1", AddressClass::loopback},
      {"fe80::1", AddressClass::link_local},
      {"febf:ffff::1", AddressClass::link_local},
      {"fec0::1", AddressClass::private_use},
      {"fc00::1", AddressClass::unique_local},
      {"fd12:3456:789a::1", AddressClass::unique_local},
      {"ff02::1", AddressClass::multicast},
      {"ff05::1:3", AddressClass::multicast},
      {"100::1", AddressClass::reserved},
      {"2001:db8::1", AddressClass::reserved},
      {"::ffff:0:1.2.3.4", AddressClass::reserved},  // IPv4-translated, in ::/8
      {"64:ff9b:1::1", AddressClass::reserved},      // local-use NAT64
      {"2606:4700:4700::1111", AddressClass::global},
      {"2001:4860:4860::8888", AddressClass::global},
      {"fbff::1", AddressClass::global},
      {"fe00::1", AddressClass::global},
      // IPv6 carrying IPv4: judged by the IPv4 address
      {"::ffff:127.0.0.1", AddressClass::loopback},
      {"::ffff:10.1.2.3", AddressClass::private_use},
      {"::ffff:169.254.169.254", AddressClass::link_local},
      {"::ffff:100.64.1.1", AddressClass::shared},
      {"::ffff:0.0.0.0", AddressClass::unspecified},
      {"::ffff:255.255.255.255", AddressClass::broadcast},
      {"::ffff:8.8.8.8", AddressClass::global},
      {"::127.0.0.1", AddressClass::loopback},        // IPv4-compatible
      {"::10.0.0.1", AddressClass::private_use},
      {"::169.254.169.254", AddressClass::link_local},
      {"::0.0.0.2", AddressClass::this_network},
      {"64:ff9b::127.0.0.1", AddressClass::loopback},  // NAT64
      {"64:ff9b::192.168.0.1", AddressClass::private_use},
      {"64:ff9b::8.8.8.8", AddressClass::global},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify_address(addr(c.address)), c.expected)
        << c.address << " is " << to_string(classify_address(addr(c.address)));
  }
}

TEST(AddressPolicy, DefaultRefusesEverythingButGlobal) {
  const AddressPolicy policy;
  for (const char* refused : {"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1", "fd00::1",
                              "::ffff:127.0.0.1", "::ffff:169.254.169.254", "0.0.0.0", "::", "224.0.0.1",
                              "255.255.255.255", "100.64.0.1", "::10.0.0.1", "64:ff9b::a9fe:a9fe"}) {
    EXPECT_FALSE(policy.permits(addr(refused))) << refused;
    EXPECT_NE(policy.refusal(addr(refused)), "") << refused;
  }
  for (const char* allowed : {"8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"}) {
    EXPECT_TRUE(policy.permits(addr(allowed))) << allowed;
    EXPECT_EQ(policy.refusal(addr(allowed)), "");
  }
  EXPECT_EQ(policy.refusal(addr("169.254.169.254")),
            "webhooks may not connect to 169.254.169.254 (link-local address; see --webhook-allow)");
}

TEST(AddressPolicy, AllowlistOpensOnlyItsRanges) {
  std::string error;
  auto policy = AddressPolicy::from_strings({"127.0.0.0/8"}, error);
  ASSERT_TRUE(policy) << error;
  EXPECT_TRUE(policy->permits(addr("127.0.0.1")));
  EXPECT_TRUE(policy->permits(addr("127.1.2.3")));
  EXPECT_TRUE(policy->permits(addr("::ffff:127.0.0.1")));  // the same destination
  EXPECT_FALSE(policy->permits(addr("::1")));              // another family, not allowed
  EXPECT_FALSE(policy->permits(addr("10.0.0.1")));
  EXPECT_FALSE(policy->permits(addr("169.254.169.254")));
  EXPECT_TRUE(policy->permits(addr("8.8.8.8")));

  auto v6 = AddressPolicy::from_strings({"::1/128", "10.1.0.0/16"}, error);
  ASSERT_TRUE(v6) << error;
  EXPECT_TRUE(v6->permits(addr("::1")));
  EXPECT_FALSE(v6->permits(addr("127.0.0.1")));
  EXPECT_TRUE(v6->permits(addr("10.1.200.3")));
  EXPECT_FALSE(v6->permits(addr("10.2.0.1")));
  EXPECT_TRUE(v6->permits(addr("::ffff:10.1.0.1")));
}

TEST(Cidr, ParsesRangesAndSingleAddresses) {
  std::string error;
  auto a = Cidr::parse("127.0.0.0/8", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->to_string(), "127.0.0.0/8");
  EXPECT_TRUE(a->contains(addr("127.200.1.1")));
  EXPECT_FALSE(a->contains(addr("128.0.0.1")));
  EXPECT_FALSE(a->contains(addr("::ffff:127.0.0.1")));  // contains() is per family; the policy maps

  auto b = Cidr::parse("::1/128", error);
  ASSERT_TRUE(b) << error;
  EXPECT_TRUE(b->contains(addr("::1")));
  EXPECT_FALSE(b->contains(addr("::2")));

  auto host = Cidr::parse("192.0.2.7", error);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32u);
  EXPECT_TRUE(host->contains(addr("192.0.2.7")));
  EXPECT_FALSE(host->contains(addr("192.0.2.8")));

  auto all = Cidr::parse("0.0.0.0/0", error);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(addr("10.0.0.1")));
  EXPECT_FALSE(all->contains(addr("::1")));

  auto odd = Cidr::parse("fd00:ab00::/24", error);
  ASSERT_TRUE(odd) << error;
  EXPECT_TRUE(odd->contains(addr("fd00:abff::1")));
  EXPECT_FALSE(odd->contains(addr("fd00:ac00::1")));
}

TEST(Cidr, RejectsMalformedRanges) {
  for (const char* bad : {"", "/8", "127.0.0.0/", "127.0.0.0/33", "::/129", "127.0.0.0/-1", "127.0.0.0/8x",
                          "127.0.0.1/8", "10.0.0.0/ 8", "localhost/8", "127.1/8", "fe80::1%eth0/128",
                          "::1/127", "1.2.3.4.5/32"}) {
    std::string error;
    EXPECT_FALSE(Cidr::parse(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  EXPECT_FALSE(AddressPolicy::from_strings({"127.0.0.0/8", "nonsense"}, error));
  EXPECT_NE(error.find("nonsense"), std::string::npos);
}

}  // namespace
