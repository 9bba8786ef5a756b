#include "sluice/topic/filter.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "sluice/util/json_numbers.hpp"
#include "sluice/util/json_text.hpp"

namespace json = boost::json;

namespace sluice::topic {
// A named namespace, not an anonymous one: Filter::Compiled, a class with
// linkage, derives from Program (GCC's -Wsubobject-linkage in unity builds).
namespace filter_detail {

enum class Op : std::uint8_t { eq, ne, lt, le, gt, ge, in, exists };
enum class FieldKind : std::uint8_t { type, key, topic, data };
enum class NodeKind : std::uint8_t { all, any, predicate };

struct OpName {
  std::string_view name;
  Op op;
};
constexpr std::array<OpName, 8> kOps{{{"==", Op::eq},
                                      {"!=", Op::ne},
                                      {"<", Op::lt},
                                      {"<=", Op::le},
                                      {">", Op::gt},
                                      {">=", Op::ge},
                                      {"in", Op::in},
                                      {"exists", Op::exists}}};

constexpr std::string_view kOpList = "(use ==, !=, <, <=, >, >=, in, exists)";
constexpr std::string_view kFieldList = "(use type, key, topic, data or data.<path>)";

bool is_ordering(Op op) noexcept { return op == Op::lt || op == Op::le || op == Op::gt || op == Op::ge; }

/// One step of a data path: an object key, and when the key is all digits, also an array index.
struct Segment {
  std::string key;
  std::size_t index = 0;
  bool has_index = false;
};

struct Predicate {
  FieldKind field = FieldKind::data;
  Op op = Op::eq;
  bool exists = true;          ///< for Op::exists: true = "exists", false = "does not exist"
  std::vector<Segment> path;   ///< for FieldKind::data: the segments after "data."
  json::value operand;         ///< the value; for Op::in an array of 1..kMaxFilterInItems items
};

struct Node {
  NodeKind kind;
  std::uint32_t begin;  ///< group: first index into children; predicate: index into predicates
  std::uint32_t end;    ///< group: one past the last index into children
};

/// The field a predicate looks at, resolved for one event. A JSON string resolves
/// to `string`, so type/key/topic and data strings compare the same way.
struct Subject {
  enum class Kind : std::uint8_t { missing, string, json } kind = Kind::missing;
  std::string_view str;
  const json::value* value = nullptr;
};

// ---- Comparison -------------------------------------------------------------

std::partial_ordering compare_int_uint(std::int64_t a, std::uint64_t b) noexcept {
  if (a < 0) return std::partial_ordering::less;
  return static_cast<std::uint64_t>(a) <=> b;
}

// Exact comparison of an integer with a double (no rounding of large integers).
template <typename Int>
std::partial_ordering compare_int_double(Int a, double d) noexcept {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  // Bounds of Int as doubles: both are powers of two, so exactly representable.
  constexpr double upper = std::is_signed_v<Int> ? 0x1p63 : 0x1p64;
  constexpr double lower = std::is_signed_v<Int> ? -0x1p63 : 0.0;
  if (d >= upper) return std::partial_ordering::less;
  if (d < lower) return std::partial_ordering::greater;
  const double whole = std::trunc(d);
  const auto t = static_cast<Int>(whole);  // in range by the checks above
  if (a != t) return a <=> t;
  return 0.0 <=> (d - whole);  // equal integer parts: the fraction decides
}

// Numbers compare by value whatever their representation: 100 == 100.0.
std::partial_ordering compare_numbers(const json::value& a, const json::value& b) noexcept {
  switch (a.kind()) {
    case json::kind::int64: {
      const std::int64_t x = a.get_int64();
      if (b.is_int64()) return x <=> b.get_int64();
      if (b.is_uint64()) return compare_int_uint(x, b.get_uint64());
      return compare_int_double(x, b.get_double());
    }
    case json::kind::uint64: {
      const std::uint64_t x = a.get_uint64();
      if (b.is_int64()) return 0 <=> compare_int_uint(b.get_int64(), x);
      if (b.is_uint64()) return x <=> b.get_uint64();
      return compare_int_double(x, b.get_double());
    }
    default: {
      const double x = a.get_double();
      if (b.is_double()) return x <=> b.get_double();
      if (b.is_int64()) return 0 <=> compare_int_double(b.get_int64(), x);
      return 0 <=> compare_int_double(b.get_uint64(), x);
    }
  }
}

// Deep equality with numbers compared by value (json::value's operator== does not do that).
bool deep_equal(const json::value& a, const json::value& b) noexcept {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::kind::null:
      return true;
    case json::kind::bool_:
      return a.get_bool() == b.get_bool();
    case json::kind::string:
      return a.get_string() == b.get_string();
    case json::kind::array: {
      const json::array& x = a.get_array();
      const json::array& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!deep_equal(x[i], y[i])) return false;
      }
      return true;
    }
    case json::kind::object: {
      const json::object& x = a.get_object();
      const json::object& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        const auto it = y.find(kv.key());
        if (it == y.end() || !deep_equal(kv.value(), it->value())) return false;
      }
      return true;
    }
    default:
      return false;  // numbers were handled above
  }
}

bool subject_equals(const Subject& s, const json::value& v) noexcept {
  switch (s.kind) {
    case Subject::Kind::missing:
      return false;
    case Subject::Kind::string:
      return v.is_string() && std::string_view(v.get_string()) == s.str;
    case Subject::Kind::json:
      return deep_equal(*s.value, v);
  }
  return false;
}

// Ordering is defined for two numbers or two strings (bytewise); anything else is unordered.
std::partial_ordering subject_compare(const Subject& s, const json::value& v) noexcept {
  if (s.kind == Subject::Kind::string && v.is_string()) {
    return s.str.compare(std::string_view(v.get_string())) <=> 0;  // char_traits<char> compares as unsigned bytes
  }
  if (s.kind == Subject::Kind::json && s.value->is_number() && v.is_number()) {
    return compare_numbers(*s.value, v);
  }
  return std::partial_ordering::unordered;
}

// ---- Numbers a double cannot hold ------------------------------------------

constexpr std::string_view kRangeNote =
    "filters compare numbers as doubles: a number must be 0 or between about 4.9e-324 and 1.8e308 in magnitude";

// The first infinite number inside `v` (a parser turns 1e400 into one), or nullptr.
const json::value* first_non_finite(const json::value& v) noexcept {
  if (v.is_double()) return std::isfinite(v.get_double()) ? nullptr : &v;
  if (const json::array* a = v.if_array()) {
    for (const json::value& item : *a) {
      if (const json::value* bad = first_non_finite(item)) return bad;
    }
  }
  if (const json::object* o = v.if_object()) {
    for (const auto& kv : *o) {
      if (const json::value* bad = first_non_finite(kv.value())) return bad;
    }
  }
  return nullptr;
}

// ---- Messages ---------------------------------------------------------------


// ---- Compilation ------------------------------------------------------------

/// The compiled form: a flat tree (nodes[0] is the root group) so evaluation walks indices.
struct Program {
  std::vector<Node> nodes;  ///< nodes[0] is the root group
  std::vector<std::uint32_t> children;
  std::vector<Predicate> predicates;
  json::value spec;

  bool eval(std::uint32_t index, std::string_view topic, std::string_view type, std::string_view key,
            const json::value& data) const noexcept;
};

/// Builds a Filter::Compiled from JSON; stops at the first error.
class Compiler {
 public:
  Compiler(Program& out, std::string& error) : out_(out), error_(error) {}

  /// Compiles the top level: a group, an array, or a single predicate (wrapped in "all").
  bool compile_root(const json::value& spec) {
    std::string path = "filter";
    if (spec.is_object() && !is_predicate(spec.get_object())) {
      return compile_node(spec, path, 0, out_.spec).has_value();
    }
    if (spec.is_array()) return compile_node(spec, path, 0, out_.spec).has_value();
    if (!spec.is_object()) {
      return fail(path + ": expected an object ({\"all\": [...]} or {\"any\": [...]}) or an array of predicates, got " +
                  std::string(util::kind_of(spec)));
    }
    // A lone predicate: root group "all" around it; errors still name it "filter".
    out_.nodes.push_back({NodeKind::all, 0, 0});
    json::value child;
    const auto index = compile_predicate(spec.get_object(), path, child);
    if (!index) return false;
    out_.children.push_back(*index);
    out_.nodes[0].end = 1;
    out_.spec = json::object{{"all", json::array{std::move(child)}}};
    return true;
  }

 private:
  static bool is_predicate(const json::object& o) noexcept {
    return o.contains("field") || o.contains("op") || o.contains("value");
  }

  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  /// A predicate or a group at `path`, inside `depth` enclosing groups. Returns its node index.
  std::optional<std::uint32_t> compile_node(const json::value& v, const std::string& path, std::size_t depth,
                                            json::value& canonical) {
    if (v.is_array()) return compile_group(v.get_array(), NodeKind::all, path, depth + 1, canonical);
    if (!v.is_object()) {
      fail(path + ": expected a predicate ({\"field\", \"op\", \"value\"}) or a group ({\"all\": [...]} or "
                  "{\"any\": [...]}), got " + std::string(util::kind_of(v)));
      return std::nullopt;
    }
    const json::object& o = v.get_object();
    if (is_predicate(o)) return compile_predicate(o, path, canonical);
    const bool all = o.contains("all");
    const bool any = o.contains("any");
    if (!all && !any) {
      fail(path + ": expected a predicate ({\"field\", \"op\", \"value\"}) or a group ({\"all\": [...]} or "
                  "{\"any\": [...]}), got an object with neither");
      return std::nullopt;
    }
    if (all && any) {
      fail(path + ": a group has either \"all\" or \"any\", not both (nest one inside the other)");
      return std::nullopt;
    }
    for (const auto& kv : o) {
      if (kv.key() != "all" && kv.key() != "any") {
        fail(path + ": unknown key " + util::quoted_prefix(kv.key()) + " in a group (a group has only \"all\" or \"any\")");
        return std::nullopt;
      }
    }
    const std::string_view name = all ? "all" : "any";
    const std::string group_path = path + "." + std::string(name);
    const json::value& members = o.at(name);
    if (!members.is_array()) {
      fail(group_path + ": must be an array, got " + std::string(util::kind_of(members)));
      return std::nullopt;
    }
    return compile_group(members.get_array(), all ? NodeKind::all : NodeKind::any, group_path, depth + 1, canonical);
  }

  std::optional<std::uint32_t> compile_group(const json::array& members, NodeKind kind, const std::string& path,
                                             std::size_t depth, json::value& canonical) {
    if (depth > kMaxFilterDepth) {
      fail(path + ": groups nest at most " + std::to_string(kMaxFilterDepth) + " deep");
      return std::nullopt;
    }
    // Only the whole filter may be an empty "all" (it matches every event); an empty
    // group anywhere else is a mistake, and it keeps the node count bounded by predicates.
    if (members.empty() && !(depth == 1 && kind == NodeKind::all)) {
      fail(path + ": must not be empty");
      return std::nullopt;
    }
    const auto index = static_cast<std::uint32_t>(out_.nodes.size());
    out_.nodes.push_back({kind, 0, 0});
    std::vector<std::uint32_t> kids;
    kids.reserve(members.size());
    json::array canonical_members;
    canonical_members.reserve(members.size());
    for (std::size_t i = 0; i < members.size(); ++i) {
      json::value member;
      const auto child = compile_node(members[i], path + "[" + std::to_string(i) + "]", depth, member);
      if (!child) return std::nullopt;
      kids.push_back(*child);
      canonical_members.push_back(std::move(member));
    }
    // Each group's children are contiguous, appended after its own subtree is built.
    out_.nodes[index].begin = static_cast<std::uint32_t>(out_.children.size());
    out_.children.insert(out_.children.end(), kids.begin(), kids.end());
    out_.nodes[index].end = static_cast<std::uint32_t>(out_.children.size());
    canonical = json::object{{kind == NodeKind::all ? "all" : "any", std::move(canonical_members)}};
    return index;
  }

  std::optional<std::uint32_t> compile_predicate(const json::object& o, const std::string& path,
                                                 json::value& canonical) {
    if (out_.predicates.size() >= kMaxFilterPredicates) {
      fail(path + ": too many predicates (a filter has at most " + std::to_string(kMaxFilterPredicates) + ")");
      return std::nullopt;
    }
    for (const auto& kv : o) {
      if (kv.key() != "field" && kv.key() != "op" && kv.key() != "value") {
        fail(path + ": unknown key " + util::quoted_prefix(kv.key()) + " (a predicate has field, op and value)");
        return std::nullopt;
      }
    }
    Predicate p;

    // field
    const json::value* field = o.if_contains("field");
    if (field == nullptr) {
      fail(path + ".field: missing " + std::string(kFieldList));
      return std::nullopt;
    }
    if (!field->is_string()) {
      fail(path + ".field: must be a string, got " + std::string(util::kind_of(*field)));
      return std::nullopt;
    }
    const std::string_view field_name = field->get_string();
    if (!parse_field(field_name, path + ".field", p)) return std::nullopt;

    // op
    const json::value* op = o.if_contains("op");
    if (op == nullptr) {
      fail(path + ".op: missing " + std::string(kOpList));
      return std::nullopt;
    }
    if (!op->is_string()) {
      fail(path + ".op: must be a string, got " + std::string(util::kind_of(*op)));
      return std::nullopt;
    }
    const std::string_view op_name = op->get_string();
    bool known = false;
    for (const auto& entry : kOps) {
      if (entry.name == op_name) {
        p.op = entry.op;
        known = true;
      }
    }
    if (!known) {
      fail(path + ".op: unknown operator " + util::quoted_prefix(op_name) + " " + std::string(kOpList));
      return std::nullopt;
    }

    // value
    const std::string value_path = path + ".value";
    const std::string op_quoted = util::quoted_prefix(op_name);
    const json::value* value = o.if_contains("value");
    // type, key and topic are strings: any other value could never match.
    const bool string_field = p.field != FieldKind::data;
    const std::string string_field_note = "\"" + std::string(field_name) + "\" is a string, so " + op_quoted;
    if (p.op == Op::exists) {
      if (value != nullptr && !value->is_bool()) {
        fail(value_path + ": \"exists\" takes true or false, got " + std::string(util::kind_of(*value)));
        return std::nullopt;
      }
      p.exists = value == nullptr || value->get_bool();
      p.operand = p.exists;
    } else if (value == nullptr) {
      fail(value_path + ": missing (" + op_quoted + " needs a value)");
      return std::nullopt;
    } else if (p.op == Op::in) {
      if (!value->is_array() || value->get_array().empty()) {
        fail(value_path + ": \"in\" needs a non-empty array, got " + std::string(util::kind_of(*value)));
        return std::nullopt;
      }
      const json::array& items = value->get_array();
      if (items.size() > kMaxFilterInItems) {
        fail(value_path + ": \"in\" takes at most " + std::to_string(kMaxFilterInItems) + " items, got " +
             std::to_string(items.size()));
        return std::nullopt;
      }
      for (std::size_t i = 0; string_field && i < items.size(); ++i) {
        if (!items[i].is_string()) {
          fail(value_path + "[" + std::to_string(i) + "]: " + string_field_note + " needs strings, got " +
               std::string(util::kind_of(items[i])));
          return std::nullopt;
        }
      }
      p.operand = *value;
    } else {
      if (string_field && !value->is_string()) {
        fail(value_path + ": " + string_field_note + " needs a string, got " + std::string(util::kind_of(*value)));
        return std::nullopt;
      }
      if (is_ordering(p.op) && !value->is_number() && !value->is_string()) {
        fail(value_path + ": " + op_quoted + " needs a number or a string, got " + std::string(util::kind_of(*value)));
        return std::nullopt;
      }
      p.operand = *value;
    }
    if (const json::value* bad = first_non_finite(p.operand)) {
      fail(value_path + ": " + std::string(util::kind_of(*bad)) + " beyond the range of a double (" + std::string(kRangeNote) + ")");
      return std::nullopt;
    }

    canonical = json::object{{"field", field_name}, {"op", op_name}, {"value", p.operand}};
    const auto index = static_cast<std::uint32_t>(out_.nodes.size());
    out_.nodes.push_back({NodeKind::predicate, static_cast<std::uint32_t>(out_.predicates.size()), 0});
    out_.predicates.push_back(std::move(p));
    return index;
  }

  /// "type", "key", "topic", "data" or "data.<seg>.<seg>...": split once here so matching never parses.
  bool parse_field(std::string_view name, const std::string& path, Predicate& p) {
    if (name.size() > kMaxFilterFieldLength) {
      return fail(path + ": longer than " + std::to_string(kMaxFilterFieldLength) + " bytes");
    }
    if (name == "type") {
      p.field = FieldKind::type;
      return true;
    }
    if (name == "key") {
      p.field = FieldKind::key;
      return true;
    }
    if (name == "topic") {
      p.field = FieldKind::topic;
      return true;
    }
    if (name != "data" && !name.starts_with("data.")) {
      return fail(path + ": unknown field " + util::quoted_prefix(name) + " " + std::string(kFieldList));
    }
    p.field = FieldKind::data;
    if (name == "data") return true;
    std::string_view rest = name.substr(5);
    while (true) {
      const std::size_t dot = rest.find('.');
      const std::string_view segment = rest.substr(0, dot);
      if (segment.empty()) {
        return fail(path + ": empty segment in " + util::quoted_prefix(name) + " (path segments are separated by single dots)");
      }
      if (p.path.size() == kMaxFilterPathSegments) {
        return fail(path + ": more than " + std::to_string(kMaxFilterPathSegments) + " path segments");
      }
      Segment s;
      s.key = std::string(segment);
      // All digits: also an array index (unless too large to be one, then only a key).
      if (segment.find_first_not_of("0123456789") == std::string_view::npos) {
        const auto [end, ec] = std::from_chars(segment.data(), segment.data() + segment.size(), s.index);
        s.has_index = ec == std::errc{} && end == segment.data() + segment.size();
      }
      p.path.push_back(std::move(s));
      if (dot == std::string_view::npos) break;
      rest = rest.substr(dot + 1);
    }
    return true;
  }

  Program& out_;
  std::string& error_;
};

Subject resolve(const Predicate& p, std::string_view topic, std::string_view type, std::string_view key,
                const json::value& data) noexcept {
  Subject s;
  switch (p.field) {
    case FieldKind::type:
    case FieldKind::key: {
      const std::string_view text = p.field == FieldKind::type ? type : key;
      if (!text.empty()) {
        s.kind = Subject::Kind::string;
        s.str = text;
      }
      return s;
    }
    case FieldKind::topic:
      s.kind = Subject::Kind::string;
      s.str = topic;
      return s;
    case FieldKind::data:
      break;
  }
  const json::value* at = &data;
  for (const Segment& segment : p.path) {
    if (const json::object* o = at->if_object()) {
      const auto it = o->find(segment.key);
      if (it == o->end()) return s;
      at = &it->value();
    } else if (const json::array* a = at->if_array(); a != nullptr && segment.has_index) {
      if (segment.index >= a->size()) return s;
      at = &(*a)[segment.index];
    } else {
      return s;  // a scalar, or a key into an array: no such field
    }
  }
  if (at->is_string()) {
    s.kind = Subject::Kind::string;
    s.str = at->get_string();
  } else {
    s.kind = Subject::Kind::json;
    s.value = at;
  }
  return s;
}

bool test(const Predicate& p, const Subject& s) noexcept {
  switch (p.op) {
    case Op::eq: return subject_equals(s, p.operand);
    case Op::ne: return !subject_equals(s, p.operand);
    case Op::lt: return subject_compare(s, p.operand) < 0;
    case Op::le: return subject_compare(s, p.operand) <= 0;
    case Op::gt: return subject_compare(s, p.operand) > 0;
    case Op::ge: return subject_compare(s, p.operand) >= 0;
    case Op::in:
      for (const json::value& item : p.operand.get_array()) {
        if (subject_equals(s, item)) return true;
      }
      return false;
    case Op::exists: return (s.kind != Subject::Kind::missing) == p.exists;
  }
  return false;
}

bool Program::eval(std::uint32_t index, std::string_view topic, std::string_view type,
                            std::string_view key, const json::value& data) const noexcept {
  const Node& node = nodes[index];
  switch (node.kind) {
    case NodeKind::predicate: {
      const Predicate& p = predicates[node.begin];
      return test(p, resolve(p, topic, type, key, data));
    }
    case NodeKind::all:
      for (std::uint32_t i = node.begin; i < node.end; ++i) {
        if (!eval(children[i], topic, type, key, data)) return false;
      }
      return true;
    case NodeKind::any:
      for (std::uint32_t i = node.begin; i < node.end; ++i) {
        if (eval(children[i], topic, type, key, data)) return true;
      }
      return false;
  }
  return false;
}

}  // namespace filter_detail

struct Filter::Compiled : filter_detail::Program {};

Filter::Filter(std::shared_ptr<const Compiled> compiled) noexcept : compiled_(std::move(compiled)) {}

std::optional<Filter> Filter::compile(const json::value& spec, std::string& error) {
  auto compiled = std::make_shared<Compiled>();
  std::string message;
  filter_detail::Compiler compiler(*compiled, message);
  if (!compiler.compile_root(spec)) {
    error = std::move(message);
    return std::nullopt;
  }
  error.clear();
  return Filter(std::move(compiled));
}

std::optional<Filter> Filter::compile(std::string_view json_text, std::string& error) {
  std::error_code ec;
  const json::value spec = json::parse(json::string_view(json_text.data(), json_text.size()), ec);
  if (ec) {
    error = "filter: not valid JSON: " + ec.message();
    return std::nullopt;
  }
  if (const std::string_view literal = first_number_beyond_double(json_text); !literal.empty()) {
    error = "filter: the number " + std::string(literal) + " is beyond the range of a double (" +
            std::string(filter_detail::kRangeNote) + ")";
    return std::nullopt;
  }
  return compile(spec, error);
}

bool Filter::matches(std::string_view topic, std::string_view type, std::string_view key,
                     const json::value& data) const {
  return compiled_->eval(0, topic, type, key, data);
}

const json::value& Filter::spec() const noexcept { return compiled_->spec; }

bool Filter::matches_everything() const noexcept { return compiled_->predicates.empty(); }

}  // namespace sluice::topic
