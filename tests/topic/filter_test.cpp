#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "sluice/topic/filter.hpp"

namespace {

namespace json = boost::json;
using sluice::topic::Filter;

struct TestEvent {
  std::string topic;
  std::string type;
  std::string key;
  json::value data;
};

// Event 0 carries every kind of value; event 1 has no type or key and a scalar data.
const std::vector<TestEvent>& events() {
  static const std::vector<TestEvent> all = {
      {"payments.eu", "transfer", "k1", json::parse(R"({
          "amount": 150, "price": 2.5, "neg": -5, "big": 18446744073709551615, "huge": 9007199254740993,
          "name": "alice", "status": {"success": true, "code": "OK"}, "memo": null,
          "tags": ["a", "b"], "items": [{"sku": "x", "qty": 2}], "0": "zero-key",
          "obj": {"a": 1, "b": [1, 2]}, "empty": {}, "flag": false})")},
      {"payments.us", "", "", json::value(7)},
  };
  return all;
}

Filter compile_ok(std::string_view text) {
  std::string error = "stale";
  auto filter = Filter::compile(json::parse(text), error);
  EXPECT_TRUE(filter.has_value()) << text << " -> " << error;
  EXPECT_EQ(error, "") << text;
  if (!filter) return *Filter::compile(json::array{}, error);
  return *filter;
}

bool matches(const Filter& f, const TestEvent& e) { return f.matches(e.topic, e.type, e.key, e.data); }

struct MatchCase {
  const char* filter;
  int event;
  bool expected;
};

// One predicate (or group) against one event, with the exact expected result.
const MatchCase kMatchCases[] = {
    // numbers: int and double compare by value
    {R"([{"field":"data.amount","op":"==","value":150}])", 0, true},
    {R"([{"field":"data.amount","op":"==","value":150.0}])", 0, true},
    {R"([{"field":"data.amount","op":"==","value":150.5}])", 0, false},
    {R"([{"field":"data.amount","op":"!=","value":150}])", 0, false},
    {R"([{"field":"data.amount","op":"!=","value":151}])", 0, true},
    {R"([{"field":"data.amount","op":">=","value":100}])", 0, true},
    {R"([{"field":"data.amount","op":">=","value":150}])", 0, true},
    {R"([{"field":"data.amount","op":">","value":150}])", 0, false},
    {R"([{"field":"data.amount","op":">","value":149.99}])", 0, true},
    {R"([{"field":"data.amount","op":"<","value":150.5}])", 0, true},
    {R"([{"field":"data.amount","op":"<","value":150}])", 0, false},
    {R"([{"field":"data.amount","op":"<=","value":150}])", 0, true},
    {R"([{"field":"data.amount","op":"<=","value":149.9}])", 0, false},
    {R"([{"field":"data.price","op":"==","value":2.5}])", 0, true},
    {R"([{"field":"data.price","op":">","value":2}])", 0, true},
    {R"([{"field":"data.price","op":"<","value":3}])", 0, true},
    {R"([{"field":"data.price","op":"<=","value":2}])", 0, false},
    {R"([{"field":"data.neg","op":"<","value":0}])", 0, true},
    {R"([{"field":"data.neg","op":"==","value":-5.0}])", 0, true},
    {R"([{"field":"data.neg","op":">","value":-5.5}])", 0, true},
    {R"([{"field":"data.neg","op":"<","value":18446744073709551615}])", 0, true},
    {R"([{"field":"data.big","op":"==","value":18446744073709551615}])", 0, true},
    {R"([{"field":"data.big","op":">","value":9223372036854775807}])", 0, true},
    {R"([{"field":"data.big","op":">","value":-1}])", 0, true},
    {R"([{"field":"data.big","op":">","value":1.8e19}])", 0, true},
    {R"([{"field":"data.big","op":"<","value":1.9e19}])", 0, true},
    // 2^53 + 1 is not a double: exact integer comparison, no rounding
    {R"([{"field":"data.huge","op":">","value":9007199254740992.0}])", 0, true},
    {R"([{"field":"data.huge","op":"==","value":9007199254740992.0}])", 0, false},
    {R"([{"field":"data.huge","op":"==","value":9007199254740993}])", 0, true},
    // strings: == and bytewise ordering
    {R"([{"field":"data.name","op":"==","value":"alice"}])", 0, true},
    {R"([{"field":"data.name","op":"==","value":"Alice"}])", 0, false},
    {R"([{"field":"data.name","op":"!=","value":"bob"}])", 0, true},
    {R"([{"field":"data.name","op":"<","value":"bob"}])", 0, true},
    {R"([{"field":"data.name","op":">","value":"Alice"}])", 0, true},
    {R"([{"field":"data.name","op":">=","value":"alice"}])", 0, true},
    {R"([{"field":"data.name","op":"<=","value":"alic"}])", 0, false},
    {R"([{"field":"data.name","op":">","value":"alic"}])", 0, true},
    {R"([{"field":"data.name","op":"<","value":"\u00e9"}])", 0, true},  // 0xC3 > 'a': bytes, unsigned
    // booleans
    {R"([{"field":"data.status.success","op":"==","value":true}])", 0, true},
    {R"([{"field":"data.status.success","op":"!=","value":false}])", 0, true},
    {R"([{"field":"data.status.success","op":"==","value":1}])", 0, false},
    {R"([{"field":"data.flag","op":"==","value":false}])", 0, true},
    {R"([{"field":"data.flag","op":"==","value":null}])", 0, false},
    // null, and null is not missing
    {R"([{"field":"data.memo","op":"==","value":null}])", 0, true},
    {R"([{"field":"data.memo","op":"!=","value":null}])", 0, false},
    {R"([{"field":"data.memo","op":"exists"}])", 0, true},
    {R"([{"field":"data.memo","op":"exists","value":false}])", 0, false},
    {R"([{"field":"data.nope","op":"==","value":null}])", 0, false},
    {R"([{"field":"data.nope","op":"!=","value":null}])", 0, true},
    // missing fields: ordering and == false, != true
    {R"([{"field":"data.nope","op":"==","value":1}])", 0, false},
    {R"([{"field":"data.nope","op":"!=","value":1}])", 0, true},
    {R"([{"field":"data.nope","op":"<","value":1}])", 0, false},
    {R"([{"field":"data.nope","op":"<=","value":1}])", 0, false},
    {R"([{"field":"data.nope","op":">","value":1}])", 0, false},
    {R"([{"field":"data.nope","op":">=","value":"a"}])", 0, false},
    {R"([{"field":"data.nope","op":"in","value":[null, 1]}])", 0, false},
    {R"([{"field":"data.nope","op":"exists"}])", 0, false},
    {R"([{"field":"data.nope","op":"exists","value":false}])", 0, true},
    // type mismatches: ordering and == false, != true
    {R"([{"field":"data.amount","op":"==","value":"150"}])", 0, false},
    {R"([{"field":"data.amount","op":"!=","value":"150"}])", 0, true},
    {R"([{"field":"data.amount","op":"<","value":"200"}])", 0, false},
    {R"([{"field":"data.amount","op":">=","value":"1"}])", 0, false},
    {R"([{"field":"data.name","op":">","value":1}])", 0, false},
    {R"([{"field":"data.name","op":"<=","value":1}])", 0, false},
    {R"([{"field":"data.status","op":">","value":1}])", 0, false},
    {R"([{"field":"data.tags","op":"<","value":"z"}])", 0, false},
    {R"([{"field":"data.memo","op":"<","value":1}])", 0, false},
    {R"([{"field":"data.status.success","op":">=","value":0}])", 0, false},
    // nested paths and array indexes
    {R"([{"field":"data.status.code","op":"==","value":"OK"}])", 0, true},
    {R"([{"field":"data.items.0.sku","op":"==","value":"x"}])", 0, true},
    {R"([{"field":"data.items.0.qty","op":">=","value":2}])", 0, true},
    {R"([{"field":"data.items.00.qty","op":"==","value":2}])", 0, true},
    {R"([{"field":"data.items.1.sku","op":"exists","value":false}])", 0, true},
    {R"([{"field":"data.tags.1","op":"==","value":"b"}])", 0, true},
    {R"([{"field":"data.tags.2","op":"exists"}])", 0, false},
    {R"([{"field":"data.tags.99999999999999999999999","op":"exists"}])", 0, false},
    {R"([{"field":"data.tags.x","op":"exists"}])", 0, false},
    {R"([{"field":"data.0","op":"==","value":"zero-key"}])", 0, true},  // digits are keys in objects
    {R"([{"field":"data.name.x","op":"exists"}])", 0, false},           // no path through a string
    {R"([{"field":"data.amount.0","op":"exists"}])", 0, false},
    {R"([{"field":"data.memo.x","op":"exists"}])", 0, false},
    // deep equality: order-independent objects, numbers by value
    {R"([{"field":"data.tags","op":"==","value":["a","b"]}])", 0, true},
    {R"([{"field":"data.tags","op":"==","value":["b","a"]}])", 0, false},
    {R"([{"field":"data.tags","op":"==","value":["a"]}])", 0, false},
    {R"([{"field":"data.obj","op":"==","value":{"b":[1,2.0],"a":1.0}}])", 0, true},
    {R"([{"field":"data.obj","op":"==","value":{"a":1}}])", 0, false},
    {R"([{"field":"data.obj","op":"==","value":{"a":1,"c":[1,2]}}])", 0, false},
    {R"([{"field":"data.obj","op":"!=","value":{"a":1,"b":[1,2]}}])", 0, false},
    {R"([{"field":"data.empty","op":"==","value":{}}])", 0, true},
    {R"([{"field":"data.empty","op":"==","value":[]}])", 0, false},
    // in
    {R"([{"field":"data.amount","op":"in","value":[1, 150.0]}])", 0, true},
    {R"([{"field":"data.amount","op":"in","value":["150"]}])", 0, false},
    {R"([{"field":"data.name","op":"in","value":["bob","alice"]}])", 0, true},
    {R"([{"field":"data.memo","op":"in","value":[0, null]}])", 0, true},
    {R"([{"field":"data.status","op":"in","value":[{"code":"OK","success":true}]}])", 0, true},
    {R"([{"field":"data.tags","op":"in","value":["a","b"]}])", 0, false},  // the array is not an item
    {R"([{"field":"key","op":"in","value":["a","k1"]}])", 0, true},
    {R"([{"field":"type","op":"in","value":["x","y"]}])", 0, false},
    {R"([{"field":"topic","op":"in","value":["payments.eu"]}])", 0, true},
    // type, key, topic (an empty type or key is absent)
    {R"([{"field":"type","op":"==","value":"transfer"}])", 0, true},
    {R"([{"field":"type","op":"!=","value":"transfer"}])", 0, false},
    {R"([{"field":"type","op":"<","value":"u"}])", 0, true},
    {R"([{"field":"type","op":"exists"}])", 0, true},
    {R"([{"field":"key","op":"==","value":"k1"}])", 0, true},
    {R"([{"field":"key","op":">=","value":"k2"}])", 0, false},
    {R"([{"field":"topic","op":"==","value":"payments.eu"}])", 0, true},
    {R"([{"field":"topic","op":"<","value":"payments.us"}])", 0, true},
    {R"([{"field":"topic","op":"exists"}])", 1, true},
    {R"([{"field":"type","op":"exists"}])", 1, false},
    {R"([{"field":"type","op":"exists","value":false}])", 1, true},
    {R"([{"field":"key","op":"exists"}])", 1, false},
    {R"([{"field":"type","op":"==","value":""}])", 1, false},
    {R"([{"field":"type","op":"!=","value":"transfer"}])", 1, true},
    {R"([{"field":"key","op":"<","value":"z"}])", 1, false},
    {R"([{"field":"key","op":"in","value":["", "a"]}])", 1, false},
    // the whole of data
    {R"([{"field":"data","op":"exists"}])", 0, true},
    {R"([{"field":"data","op":">","value":5}])", 1, true},
    {R"([{"field":"data","op":"==","value":7.0}])", 1, true},
    {R"([{"field":"data","op":"in","value":[6, 7]}])", 1, true},
    {R"([{"field":"data.x","op":"exists"}])", 1, false},
    {R"([{"field":"data.0","op":"exists"}])", 1, false},
    // groups: all, any, nesting, the array shorthand, a lone predicate, empty
    {R"({"all":[{"field":"type","op":"==","value":"transfer"},{"field":"data.amount","op":">","value":100}]})", 0, true},
    {R"({"all":[{"field":"type","op":"==","value":"transfer"},{"field":"data.amount","op":">","value":200}]})", 0, false},
    {R"({"any":[{"field":"type","op":"==","value":"refund"},{"field":"data.amount","op":">","value":100}]})", 0, true},
    {R"({"any":[{"field":"type","op":"==","value":"refund"},{"field":"data.amount","op":">","value":200}]})", 0, false},
    {R"({"any":[{"all":[{"field":"key","op":"==","value":"k1"},{"field":"data.flag","op":"==","value":false}]},
               {"field":"type","op":"==","value":"refund"}]})", 0, true},
    {R"({"any":[{"all":[{"field":"key","op":"==","value":"k1"},{"field":"data.flag","op":"==","value":true}]},
               {"field":"type","op":"==","value":"refund"}]})", 0, false},
    {R"({"all":[{"any":[{"field":"key","op":"==","value":"zz"},{"field":"type","op":"exists","value":false}]},
               {"field":"data","op":"==","value":7}]})", 1, true},
    {R"({"any":[[{"field":"key","op":"==","value":"k1"},{"field":"data.amount","op":"==","value":150}],
               {"field":"type","op":"==","value":"refund"}]})", 0, true},
    {R"({"all":[{"any":[{"all":[{"any":[{"field":"data.tags.0","op":"==","value":"a"}]}]}]}]})", 0, true},
    {R"({"all":[{"any":[{"all":[{"any":[{"field":"data.tags.0","op":"==","value":"b"}]}]}]}]})", 0, false},
    {R"([{"field":"type","op":"==","value":"transfer"},{"field":"key","op":"==","value":"k1"}])", 0, true},
    {R"([{"field":"type","op":"==","value":"transfer"},{"field":"key","op":"==","value":"k2"}])", 0, false},
    {R"({"field":"type","op":"==","value":"transfer"})", 0, true},
    {R"({"field":"type","op":"==","value":"transfer"})", 1, false},
    {R"([])", 0, true},
    {R"([])", 1, true},
    {R"({"all":[]})", 1, true},
};

TEST(FilterMatch, PredicateTable) {
  for (const MatchCase& c : kMatchCases) {
    const Filter f = compile_ok(c.filter);
    EXPECT_EQ(matches(f, events()[static_cast<std::size_t>(c.event)]), c.expected)
        << c.filter << " on event " << c.event;
  }
}

// The canonical form compiles again to the same canonical form and the same results.
TEST(FilterMatch, CanonicalSpecRoundTrips) {
  for (const MatchCase& c : kMatchCases) {
    const Filter f = compile_ok(c.filter);
    const Filter again = compile_ok(json::serialize(f.spec()));
    EXPECT_EQ(json::serialize(again.spec()), json::serialize(f.spec())) << c.filter;
    for (const TestEvent& e : events()) EXPECT_EQ(matches(again, e), matches(f, e)) << c.filter;
  }
}

TEST(FilterSpec, CanonicalForm) {
  const auto canonical = [](std::string_view text) { return json::serialize(compile_ok(text).spec()); };
  EXPECT_EQ(canonical(R"([{"op":"exists","field":"data.memo"}])"),
            R"({"all":[{"field":"data.memo","op":"exists","value":true}]})");
  EXPECT_EQ(canonical(R"({"field":"key","op":"==","value":"a"})"),
            R"({"all":[{"field":"key","op":"==","value":"a"}]})");
  EXPECT_EQ(canonical(R"({"any":[[{"field":"key","op":"in","value":["a"]}]]})"),
            R"({"any":[{"all":[{"field":"key","op":"in","value":["a"]}]}]})");
  EXPECT_EQ(canonical("[]"), R"({"all":[]})");
  EXPECT_TRUE(compile_ok("[]").matches_everything());
  EXPECT_TRUE(compile_ok(R"({"all":[]})").matches_everything());
  EXPECT_FALSE(compile_ok(R"({"field":"key","op":"exists"})").matches_everything());
}

struct ErrorCase {
  const char* filter;
  const char* message;
};

const ErrorCase kErrorCases[] = {
    // operators
    {R"({"all":[{"field":"type","op":"==","value":"a"},{"field":"key","op":"==","value":"b"},
                {"field":"data.x","op":"=>","value":1}]})",
     R"(filter.all[2].op: unknown operator "=>" (use ==, !=, <, <=, >, >=, in, exists))"},
    {R"([{"field":"type","value":"a"}])", R"(filter[0].op: missing (use ==, !=, <, <=, >, >=, in, exists))"},
    {R"([{"field":"type","op":5,"value":"a"}])", R"(filter[0].op: must be a string, got a number)"},
    {R"([{"field":"type","op":"EQ","value":"a"}])",
     R"(filter[0].op: unknown operator "EQ" (use ==, !=, <, <=, >, >=, in, exists))"},
    // fields
    {R"([{"op":"==","value":1}])", R"(filter[0].field: missing (use type, key, topic, data or data.<path>))"},
    {R"([{"field":["data"],"op":"==","value":1}])", R"(filter[0].field: must be a string, got an array)"},
    {R"([{"field":"foo","op":"==","value":1}])",
     R"(filter[0].field: unknown field "foo" (use type, key, topic, data or data.<path>))"},
    {R"([{"field":"amount","op":"==","value":1}])",
     R"(filter[0].field: unknown field "amount" (use type, key, topic, data or data.<path>))"},
    {R"([{"field":"datum.x","op":"==","value":1}])",
     R"(filter[0].field: unknown field "datum.x" (use type, key, topic, data or data.<path>))"},
    {R"([{"field":"","op":"==","value":1}])",
     R"(filter[0].field: unknown field "" (use type, key, topic, data or data.<path>))"},
    {R"([{"field":"data..x","op":"==","value":1}])",
     R"(filter[0].field: empty segment in "data..x" (path segments are separated by single dots))"},
    {R"([{"field":"data.","op":"==","value":1}])",
     R"(filter[0].field: empty segment in "data." (path segments are separated by single dots))"},
    {R"([{"field":"data.x.","op":"==","value":1}])",
     R"(filter[0].field: empty segment in "data.x." (path segments are separated by single dots))"},
    // values
    {R"([{"field":"data.x","op":"=="}])", R"(filter[0].value: missing ("==" needs a value))"},
    {R"([{"field":"data.x","op":"<"}])", R"(filter[0].value: missing ("<" needs a value))"},
    {R"([{"field":"data.x","op":"in"}])", R"(filter[0].value: missing ("in" needs a value))"},
    {R"([{"field":"data.x","op":"in","value":"a"}])", R"(filter[0].value: "in" needs a non-empty array, got a string)"},
    {R"([{"field":"data.x","op":"in","value":[]}])",
     R"(filter[0].value: "in" needs a non-empty array, got an empty array)"},
    {R"([{"field":"data.x","op":"in","value":{"a":1}}])",
     R"(filter[0].value: "in" needs a non-empty array, got an object)"},
    {R"([{"field":"data.x","op":">=","value":{"a":1}}])",
     R"(filter[0].value: ">=" needs a number or a string, got an object)"},
    {R"([{"field":"data.x","op":"<","value":[1]}])", R"(filter[0].value: "<" needs a number or a string, got an array)"},
    {R"([{"field":"data.x","op":">","value":true}])", R"(filter[0].value: ">" needs a number or a string, got a boolean)"},
    {R"([{"field":"data.x","op":"<=","value":null}])", R"(filter[0].value: "<=" needs a number or a string, got null)"},
    {R"([{"field":"data.x","op":"exists","value":"yes"}])", R"(filter[0].value: "exists" takes true or false, got a string)"},
    {R"([{"field":"data.x","op":"exists","value":null}])", R"(filter[0].value: "exists" takes true or false, got null)"},
    {R"([{"field":"type","op":"==","value":5}])", R"(filter[0].value: "type" is a string, so "==" needs a string, got a number)"},
    {R"([{"field":"key","op":">","value":5}])", R"(filter[0].value: "key" is a string, so ">" needs a string, got a number)"},
    {R"([{"field":"topic","op":"in","value":["a",null]}])",
     R"(filter[0].value[1]: "topic" is a string, so "in" needs strings, got null)"},
    // predicate objects
    {R"([{"field":"data.x","op":"==","valeu":1}])", R"(filter[0]: unknown key "valeu" (a predicate has field, op and value))"},
    {R"({"all":["type == transfer"]})",
     R"(filter.all[0]: expected a predicate ({"field", "op", "value"}) or a group ({"all": [...]} or {"any": [...]}), got a string)"},
    {R"({"all":[42]})",
     R"(filter.all[0]: expected a predicate ({"field", "op", "value"}) or a group ({"all": [...]} or {"any": [...]}), got a number)"},
    {R"({"any":[{"field":"key","op":"exists"},{}]})",
     R"(filter.any[1]: expected a predicate ({"field", "op", "value"}) or a group ({"all": [...]} or {"any": [...]}), got an object with neither)"},
    // groups
    {R"("type == transfer")",
     R"(filter: expected an object ({"all": [...]} or {"any": [...]}) or an array of predicates, got a string)"},
    {R"(null)", R"(filter: expected an object ({"all": [...]} or {"any": [...]}) or an array of predicates, got null)"},
    {R"({})",
     R"(filter: expected a predicate ({"field", "op", "value"}) or a group ({"all": [...]} or {"any": [...]}), got an object with neither)"},
    {R"({"all":{"field":"key","op":"exists"}})", R"(filter.all: must be an array, got an object)"},
    {R"({"all":[],"any":[]})", R"(filter: a group has either "all" or "any", not both (nest one inside the other))"},
    {R"({"all":[],"limit":3})", R"(filter: unknown key "limit" in a group (a group has only "all" or "any"))"},
    {R"({"any":[]})", R"(filter.any: must not be empty)"},
    {R"({"all":[{"all":[]}]})", R"(filter.all[0].all: must not be empty)"},
    {R"([[]])", R"(filter[0]: must not be empty)"},
    {R"({"all":[{"any":[{"all":[{"any":[{"all":[{"field":"key","op":"exists"}]}]}]}]}]})",
     R"(filter.all[0].any[0].all[0].any[0].all: groups nest at most 4 deep)"},
    {R"([[[[[{"field":"key","op":"exists"}]]]]])", R"(filter[0][0][0][0]: groups nest at most 4 deep)"},
};

TEST(FilterCompile, InvalidSpecsSayWhereAndWhy) {
  for (const ErrorCase& c : kErrorCases) {
    std::string error;
    const auto filter = Filter::compile(json::parse(c.filter), error);
    EXPECT_FALSE(filter.has_value()) << c.filter;
    EXPECT_EQ(error, c.message) << c.filter;
  }
}

json::value predicate(int i) { return {{"field", "data.n"}, {"op", "!="}, {"value", i}}; }

TEST(FilterCompile, Limits) {
  std::string error;
  // 64 predicates, spread over nested groups, compile; the 65th does not.
  json::array inner;
  for (int i = 0; i < 32; ++i) inner.push_back(predicate(i));
  json::array outer;
  for (int i = 32; i < 64; ++i) outer.push_back(predicate(i));
  outer.push_back(json::object{{"any", inner}});
  ASSERT_TRUE(Filter::compile(outer, error).has_value()) << error;
  outer.push_back(predicate(64));
  EXPECT_FALSE(Filter::compile(outer, error).has_value());
  EXPECT_EQ(error, "filter[33]: too many predicates (a filter has at most 64)");

  // Exactly four levels of groups compile.
  ASSERT_TRUE(Filter::compile(json::parse(R"([[[[{"field":"key","op":"exists"}]]]])"), error).has_value()) << error;

  // 256 items in `in` compile; 257 do not.
  json::array items;
  for (int i = 0; i < 256; ++i) items.push_back(i);
  json::value in = {{"field", "data.n"}, {"op", "in"}, {"value", items}};
  ASSERT_TRUE(Filter::compile(in, error).has_value()) << error;
  in.as_object()["value"].as_array().push_back(256);
  EXPECT_FALSE(Filter::compile(in, error).has_value());
  EXPECT_EQ(error, R"(filter.value: "in" takes at most 256 items, got 257)");

  // Field names: at most 256 bytes and 32 segments after "data.".
  std::string path = "data";
  for (int i = 0; i < 32; ++i) path += ".s";
  json::value deep = {{"field", path}, {"op", "exists"}};
  ASSERT_TRUE(Filter::compile(deep, error).has_value()) << error;
  deep.as_object()["field"] = path + ".s";
  EXPECT_FALSE(Filter::compile(deep, error).has_value());
  EXPECT_EQ(error, "filter.field: more than 32 path segments");
  json::value long_name = {{"field", "data." + std::string(251, 'x')}, {"op", "exists"}};
  ASSERT_TRUE(Filter::compile(long_name, error).has_value()) << error;
  long_name.as_object()["field"] = "data." + std::string(252, 'x');
  EXPECT_FALSE(Filter::compile(long_name, error).has_value());
  EXPECT_EQ(error, "filter.field: longer than 256 bytes");
}

TEST(FilterCompile, LongNamesAreCutInMessages) {
  std::string error;
  const std::string op = std::string(63, 'o') + "\xC3\xA9zzz";  // the cut falls inside "é"
  EXPECT_FALSE(Filter::compile(json::value{{"field", "key"}, {"op", op}, {"value", "a"}}, error).has_value());
  EXPECT_EQ(error, "filter.op: unknown operator \"" + std::string(63, 'o') +
                       "...\" (use ==, !=, <, <=, >, >=, in, exists)");
  EXPECT_FALSE(Filter::compile(json::value{{"field", "ty\"pe"}, {"op", "=="}}, error).has_value());
  EXPECT_EQ(error, R"(filter.field: unknown field "ty\"pe" (use type, key, topic, data or data.<path>))");
}

// SPEC §3: "transfers over 100 that succeeded".
TEST(FilterSpecExample, TransfersOver100ThatSucceeded) {
  const Filter f = compile_ok(R"({"all": [
      {"field": "type", "op": "==", "value": "transfer"},
      {"field": "data.amount", "op": ">", "value": 100},
      {"field": "data.status.success", "op": "==", "value": true}]})");
  const auto match = [&](std::string_view type, std::string_view data) {
    return f.matches("payments.eu", type, "acct-1", json::parse(data));
  };
  EXPECT_TRUE(match("transfer", R"({"amount": 150, "status": {"success": true}})"));
  EXPECT_TRUE(match("transfer", R"({"amount": 100.01, "status": {"success": true, "code": 200}})"));
  EXPECT_FALSE(match("transfer", R"({"amount": 100, "status": {"success": true}})"));
  EXPECT_FALSE(match("transfer", R"({"amount": 150, "status": {"success": false}})"));
  EXPECT_FALSE(match("transfer", R"({"amount": 150, "status": {"success": "true"}})"));
  EXPECT_FALSE(match("transfer", R"({"amount": "150", "status": {"success": true}})"));
  EXPECT_FALSE(match("transfer", R"({"amount": 150})"));
  EXPECT_FALSE(match("transfer", R"([150, true])"));
  EXPECT_FALSE(match("refund", R"({"amount": 150, "status": {"success": true}})"));
  EXPECT_FALSE(match("", R"({"amount": 150, "status": {"success": true}})"));
}

// Copies share one immutable compiled form; concurrent matching is safe (run under TSan).
TEST(FilterThreads, CopiesMatchConcurrently) {
  const Filter f = compile_ok(R"({"any":[{"field":"data.n","op":">=","value":500},{"field":"key","op":"in","value":["x"]}]})");
  std::vector<std::thread> threads;
  std::vector<int> counts(4, 0);
  for (std::size_t t = 0; t < counts.size(); ++t) {
    threads.emplace_back([copy = f, &count = counts[t]] {
      for (int i = 0; i < 1000; ++i) {
        const json::value data = {{"n", i}};
        if (copy.matches("t", "", i % 10 == 0 ? "x" : "y", data)) ++count;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const int count : counts) EXPECT_EQ(count, 500 + 50);  // 500..999, plus every 10th of 0..499
}

}  // namespace

namespace sluice::topic {
namespace {

// A filter number a double cannot hold is refused: parsed, 1e400 would be
// infinity (stored as non-JSON) and 1e-400 would be 0 and equal 0.
TEST(Filter, NumbersADoubleCannotHoldAreRefused) {
  std::string error;
  for (const std::string value : {"1e400", "-1E400", "1e-400", "-2e-324", "[1,1e999]", "{\"a\":1e-999}"}) {
    const std::string text = R"([{"field":"data.x","op":"==","value":)" + value + "}]";
    EXPECT_FALSE(Filter::compile(std::string_view(text), error).has_value()) << value;
    EXPECT_NE(error.find("beyond the range of a double"), std::string::npos) << error;
  }
  // The value form cannot tell 1e-400 from 0, but refuses an infinity with its path.
  const json::value infinite = json::array{json::object{{"field", "data.x"}, {"op", "<"}, {"value", HUGE_VAL}}};
  EXPECT_FALSE(Filter::compile(infinite, error).has_value());
  EXPECT_NE(error.find("filter[0].value"), std::string::npos) << error;
  // Every number a double holds, 0 written any way, and number-like strings are fine.
  for (const std::string value : {"0", "-0", "0e-999", "0.0E+5", "1e-300", "4.9e-324", "1.7e308",
                                  "123456789012345678901234567890", "\"1e-400\"", "\"\\\"1e400\""}) {
    const std::string text = R"([{"field":"data.x","op":"==","value":)" + value + "}]";
    EXPECT_TRUE(Filter::compile(std::string_view(text), error).has_value()) << value << ": " << error;
  }
  EXPECT_FALSE(Filter::compile(std::string_view("[{\"field\":"), error).has_value());
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice::topic
