// query.hpp — typed queries over a store's metadata (the projections its
// listing keeps in memory), with a planner that uses an inverted index when
// one covers a filter.
//
//   query<sessions_t> q(sessions);
//   q.use(sessions_index)                                   // optional
//    .where(&summary::state, query_op::eq, status::done)    // typed
//    .where("start_time", ">=", from)                       // or by name
//    .where("tags", query_op::contains, "team")
//    .order_by("start_time", order::descending)
//    .limit(20).offset(40);
//   auto rows = q.run();        // std::vector<Store::listed>: id + projection
//   std::cout << q.explain();   // the chosen plan
//
// Filters (all must hold): ==, !=, <, <=, >, >= compare a scalar field with
// a value (numbers numerically, strings bytewise, bools false < true; a
// missing or null field, or one of another type, satisfies only !=); `in`
// is == to any of a list; `contains` is membership for a list field
// (std::vector) and substring for a string field. Fields are the
// projection's: a described struct's members or a json_document's
// top-level keys. Results are sorted by the order_by fields (nulls first),
// then by id, then offset/limit applied.
//
// Planning. A filter is covered by the index when the index has a field of
// that name: == / in on a keyword field, contains on a keyword field fed by
// a list member, == < <= > >= with an integer on a time field (bounds on
// one field combine into one range). The planner asks the index for a
// cheap upper bound of each covered filter's matches (dictionary counts,
// time column positions) and orders them most selective first; when the
// best is selective (under a quarter of the store) it intersects it with
// the other covered filters whose cost (advancing a posting list,
// materializing a time range) is below the projection fetches they save,
// and checks every filter on the candidates' projections; otherwise it
// scans the listing. Either way
// each returned row satisfied every filter on its projection, so the result
// equals a full scan whenever the index holds every entity of the store
// (as it does when both are written in the same transactions;
// inverted_index::verify checks it).
//
// Thread safety: a query object is single-threaded; any number of queries
// may run at once over the same store and index. Durability: reads only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numeric>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "codec/json_document.hpp"
#include "describe.hpp"
#include "error.hpp"
#include "index/text_index.hpp"
#include "index/text_query.hpp"

namespace stowage {

enum class query_op { eq, ne, lt, le, gt, ge, in, contains };
enum class order { ascending, descending };

inline std::string_view to_string(query_op op) {
    switch (op) {
        case query_op::eq: return "==";
        case query_op::ne: return "!=";
        case query_op::lt: return "<";
        case query_op::le: return "<=";
        case query_op::gt: return ">";
        case query_op::ge: return ">=";
        case query_op::in: return "in";
        case query_op::contains: return "contains";
    }
    return "?";
}

inline query_op parse_query_op(std::string_view s) {
    for (auto op : {query_op::eq, query_op::ne, query_op::lt, query_op::le, query_op::gt, query_op::ge, query_op::in,
                    query_op::contains})
        if (to_string(op) == s) return op;
    if (s == "=") return query_op::eq;
    throw error(errc::bad_input, "query: unknown operator \"" + std::string(s) + "\" (== != < <= > >= in contains)");
}

// A value in a filter, or read from a field: null, bool, integer, real or
// string (enumerations by name).
class query_value {
public:
    enum class kind { null, boolean, integer, real, string };

    query_value() = default;
    query_value(std::nullptr_t) {}
    query_value(bool b) : v_(b) {}
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
    query_value(I i) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
            if (i > static_cast<I>(std::numeric_limits<std::int64_t>::max())) {
                v_ = static_cast<double>(i);
                return;
            }
        }
        v_ = static_cast<std::int64_t>(i);
    }
    query_value(double d) : v_(d) {}
    query_value(float f) : v_(static_cast<double>(f)) {}
    query_value(std::string s) : v_(std::move(s)) {}
    query_value(std::string_view s) : v_(std::string(s)) {}
    query_value(const char* s) : v_(std::string(s)) {}
    template <described_enum E>
    query_value(E e) : v_(std::string(enum_name(e))) {}

    kind type() const noexcept { return static_cast<kind>(v_.index()); }
    bool is_null() const noexcept { return type() == kind::null; }
    bool is_number() const noexcept { return type() == kind::integer || type() == kind::real; }
    const std::string* string() const noexcept { return std::get_if<std::string>(&v_); }
    std::optional<std::int64_t> integer() const {
        if (auto* i = std::get_if<std::int64_t>(&v_)) return *i;
        return std::nullopt;
    }

    // How an inverted index stores this value in a keyword field (as
    // inverted_index extracts members: enums by name, integers in decimal).
    std::optional<std::string> keyword() const {
        switch (type()) {
            case kind::string: return std::get<std::string>(v_);
            case kind::integer: return std::to_string(std::get<std::int64_t>(v_));
            case kind::boolean: return std::get<bool>(v_) ? "true" : "false";
            default: return std::nullopt;
        }
    }

    std::string to_string() const {
        switch (type()) {
            case kind::null: return "null";
            case kind::boolean: return std::get<bool>(v_) ? "true" : "false";
            case kind::integer: return std::to_string(std::get<std::int64_t>(v_));
            case kind::real: {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v_));
                return buf;
            }
            case kind::string: return "\"" + std::get<std::string>(v_) + "\"";
        }
        return "?";
    }

    // Whether the two can be ordered against each other.
    friend bool comparable(const query_value& a, const query_value& b) noexcept {
        return (a.is_number() && b.is_number()) || (a.type() == b.type() && !a.is_null());
    }
    // <0, 0, >0 for comparable values (numbers numerically).
    friend int compare_values(const query_value& a, const query_value& b) noexcept {
        if (a.is_number() && b.is_number()) {
            if (a.type() == kind::integer && b.type() == kind::integer) {
                auto x = std::get<std::int64_t>(a.v_), y = std::get<std::int64_t>(b.v_);
                return x < y ? -1 : x > y;
            }
            double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : x > y;
        }
        switch (a.type()) {
            case kind::boolean: return int(std::get<bool>(a.v_)) - int(std::get<bool>(b.v_));
            case kind::string: {
                int c = std::get<std::string>(a.v_).compare(std::get<std::string>(b.v_));
                return c < 0 ? -1 : c > 0;
            }
            default: return 0;
        }
    }
    // A total order for sorting: null < bool < numbers < strings.
    friend int order_values(const query_value& a, const query_value& b) noexcept {
        auto rank = [](const query_value& v) { return v.is_number() ? 2 : v.type() == kind::string ? 3 : static_cast<int>(v.type()); };
        if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
        return compare_values(a, b);
    }

private:
    double as_double() const noexcept {
        if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
        return std::get<double>(v_);
    }
    std::variant<std::monostate, bool, std::int64_t, double, std::string> v_;
};

// What a field of one projection holds: a scalar, or a list (std::vector).
struct field_content {
    query_value scalar;
    std::vector<query_value> items;
    bool list = false;
    void clear() {
        scalar = {};
        items.clear();
        list = false;
    }
};

namespace detail {

template <class T>
struct query_is_optional : std::false_type {};
template <class T>
struct query_is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct query_is_vector : std::false_type {};
template <class T, class A>
struct query_is_vector<std::vector<T, A>> : std::true_type {};

template <class M>
query_value scalar_of(const M& m) {
    if constexpr (query_is_optional<M>::value) {
        return m ? scalar_of(*m) : query_value{};
    } else if constexpr (std::is_same_v<M, bool> || std::is_arithmetic_v<M> || described_enum<M> ||
                         std::is_convertible_v<const M&, std::string_view>) {
        return query_value(m);
    } else {
        return {};
    }
}

template <class M>
void content_of(const M& m, field_content& out) {
    if constexpr (query_is_vector<M>::value) {
        out.list = true;
        for (const auto& e : m) out.items.push_back(scalar_of(static_cast<const typename M::value_type&>(e)));
    } else {
        out.scalar = scalar_of(m);
    }
}

inline query_value json_scalar(const json_value& v) {
    switch (v.type()) {
        case json_value::kind::boolean: return v.as_bool();
        case json_value::kind::number:
            if (auto i = v.as_integer<std::int64_t>()) return *i;
            return v.as_double();
        case json_value::kind::string: return v.as_string();
        default: return {};
    }
}

// Reads one named field of a projection into a field_content.
template <class P>
class field_reader {
public:
    explicit field_reader(std::string name) : name_(std::move(name)) {
        if constexpr (described<P>) {
            auto i = field_index<P>(name_);
            if (!i) throw error(errc::bad_input, "query: " + std::string(type_name_v<P>) + " has no field \"" + name_ + "\"");
            index_ = *i;
            for_each_field_descriptor<P>([&](const auto& fd) {
                if (fd.index == index_) list_ = query_is_vector<typename std::remove_cvref_t<decltype(fd)>::member_type>::value;
            });
        } else {
            static_assert(std::is_same_v<P, json_document>, "query: the projection must be described or a json_document");
        }
    }
    const std::string& name() const noexcept { return name_; }
    // Whether the field is a list by its type (described projections).
    bool is_list() const noexcept { return list_; }

    void read(const P& p, field_content& out) const {
        out.clear();
        if constexpr (described<P>) {
            for_each_field_descriptor<P>([&](const auto& fd) {
                if (fd.index == index_) content_of(fd.of(p), out);
            });
        } else {
            const json_value* v = p.find(name_);
            if (!v) return;
            if (v->is_array()) {
                out.list = true;
                for (const auto& e : v->as_array()) out.items.push_back(json_scalar(e));
            } else {
                out.scalar = json_scalar(*v);
            }
        }
    }

private:
    std::string name_;
    std::size_t index_ = 0;
    bool list_ = false;
};

// The name of the described member `member` of P.
template <class P, class M>
std::string member_name(M P::*member) {
    std::string name;
    for_each_field_descriptor<P>([&](const auto& fd) {
        if constexpr (std::is_same_v<typename std::remove_cvref_t<decltype(fd)>::member_type, M>)
            if (fd.pointer == member) name = std::string(fd.name);
    });
    if (name.empty()) throw error(errc::bad_input, "query: the member is not described in " + std::string(type_name_v<P>));
    return name;
}

}  // namespace detail

template <class Store>
class query {
public:
    using listed = typename Store::listed;
    using projection_type = typename Store::projection_type;

    explicit query(const Store& store) : store_(&store) {}

    // Lets the planner use an inverted index over the same entities (any
    // object with schema-carrying core(), search() and count()).
    template <class Index>
    query& use(const Index& index) {
        index_.schema = &index.core().schema();
        index_.search = [&index](const text_query& q) { return index.search(q); };
        index_.estimate = [&index](const text_query& q) { return index.estimate(q); };
        return *this;
    }

    query& where(std::string field, query_op op, query_value value) {
        if (op == query_op::in) return where_in(std::move(field), {std::move(value)});
        filters_.push_back({detail::field_reader<projection_type>(std::move(field)), op, std::move(value), {}});
        return *this;
    }
    query& where(std::string field, std::string_view op, query_value value) {
        return where(std::move(field), parse_query_op(op), std::move(value));
    }
    query& where_in(std::string field, std::vector<query_value> values) {
        filters_.push_back({detail::field_reader<projection_type>(std::move(field)), query_op::in, {}, std::move(values)});
        return *this;
    }
    template <class M, class V>
        requires described<projection_type>
    query& where(M projection_type::*member, query_op op, V&& value) {
        return where(detail::member_name(member), op, query_value(std::forward<V>(value)));
    }

    query& order_by(std::string field, order o = order::ascending) {
        sort_.push_back({detail::field_reader<projection_type>(std::move(field)), o});
        return *this;
    }
    template <class M>
        requires described<projection_type>
    query& order_by(M projection_type::*member, order o = order::ascending) {
        return order_by(detail::member_name(member), o);
    }
    query& limit(std::size_t n) {
        limit_ = n;
        return *this;
    }
    query& offset(std::size_t n) {
        offset_ = n;
        return *this;
    }

    // The matching rows, planned.
    std::vector<listed> run() const { return finish(collect(plan_query())); }
    // The same by scanning every projection (what run() must equal).
    std::vector<listed> scan() const { return finish(scan_all()); }
    std::size_t count() const { return collect(plan_query()).size(); }

    // The plan run() takes, in words.
    std::string explain() const {
        auto p = plan_query();
        std::string s;
        if (p.use_index) {
            s += "index: intersect";
            for (const auto& c : p.covered)
                if (c.used) s += " [" + c.query.to_string() + " <=" + std::to_string(c.estimate) + "]";
            s += ", then check every filter on the candidates' projections";
            for (const auto& c : p.covered)
                if (!c.used) s += " (not intersected: " + c.query.to_string() + " <=" + std::to_string(c.estimate) + ")";
            s += "\n";
        } else {
            s += "scan: all " + std::to_string(p.listed) + " projections";
            if (!p.covered.empty()) s += " (index too unselective: best <=" + std::to_string(p.covered.front().estimate) + ")";
            else if (!filters_.empty() && index_.schema) s += " (no filter covered by the index)";
            s += "\n";
        }
        s += "filters:";
        if (filters_.empty()) s += " none";
        for (const auto& f : filters_) s += " " + describe(f) + ";";
        s += "\nsort:";
        for (const auto& o : sort_) s += " " + o.field.name() + (o.direction == order::ascending ? " asc" : " desc") + ",";
        s += " id asc";
        if (offset_) s += "; offset " + std::to_string(offset_);
        if (limit_) s += "; limit " + std::to_string(*limit_);
        return s + "\n";
    }

private:
    struct filter {
        detail::field_reader<projection_type> field;
        query_op op;
        query_value value;
        std::vector<query_value> values;  // in
    };
    struct sort_key {
        detail::field_reader<projection_type> field;
        order direction;
    };
    struct covered_filter {
        text_query query;
        std::size_t estimate;  // the index's upper bound
        bool used;             // intersected (else only checked on projections)
    };
    struct plan {
        bool use_index = false;
        std::vector<covered_filter> covered;  // most selective first
        std::size_t listed = 0;
    };
    struct index_hooks {
        const index_schema* schema = nullptr;
        std::function<std::vector<std::string>(const text_query&)> search;
        std::function<std::size_t(const text_query&)> estimate;
    };

    static std::string describe(const filter& f) {
        std::string s = f.field.name() + " " + std::string(to_string(f.op)) + " ";
        if (f.op != query_op::in) return s + f.value.to_string();
        s += "(";
        for (std::size_t i = 0; i < f.values.size(); ++i) s += (i ? ", " : "") + f.values[i].to_string();
        return s + ")";
    }

    // The index query covering f, if the index can answer it exactly.
    std::optional<text_query> cover(const filter& f) const {
        if (!index_.schema) return std::nullopt;
        const auto* field = index_.schema->find(f.field.name());
        if (!field) return std::nullopt;
        if (field->kind == field_kind::keyword) {
            if (f.op == query_op::eq || (f.op == query_op::contains && f.field.is_list())) {
                auto k = f.value.keyword();
                if (!k) return std::nullopt;
                return text_query::keyword(field->name, *k);
            }
            if (f.op == query_op::in) {
                std::vector<text_query> alts;
                for (const auto& v : f.values) {
                    auto k = v.keyword();
                    if (!k) return std::nullopt;
                    alts.push_back(text_query::keyword(field->name, *k));
                }
                return text_query::any_of(std::move(alts));
            }
        }
        if (field->kind == field_kind::time) {
            auto i = f.value.integer();
            if (!i) return std::nullopt;
            constexpr auto lo = std::numeric_limits<std::int64_t>::min() + 1, hi = std::numeric_limits<std::int64_t>::max();
            switch (f.op) {
                case query_op::eq: return text_query::range(field->name, *i, *i);
                case query_op::lt: return *i == lo ? text_query::nothing() : text_query::range(field->name, lo, *i - 1);
                case query_op::le: return text_query::range(field->name, lo, *i);
                case query_op::gt: return *i == hi ? text_query::nothing() : text_query::range(field->name, *i + 1, hi);
                case query_op::ge: return text_query::range(field->name, *i, hi);
                default: return std::nullopt;
            }
        }
        return std::nullopt;
    }

    plan plan_query() const {
        plan p;
        p.listed = store_->size();
        // Bounds on one time field combine into one range.
        std::vector<text_query> ranges;
        for (const auto& f : filters_) {
            auto q = cover(f);
            if (!q) continue;
            if (q->type() == text_query::kind::range) {
                auto same = std::find_if(ranges.begin(), ranges.end(), [&](const text_query& r) { return r.field() == q->field(); });
                if (same != ranges.end()) {
                    *same = text_query::range(q->field(), std::max(same->from(), q->from()), std::min(same->to(), q->to()));
                    continue;
                }
                ranges.push_back(*q);
                continue;
            }
            p.covered.push_back({*q, index_.estimate(*q), false});
        }
        for (auto& r : ranges) p.covered.push_back({r, index_.estimate(r), false});
        std::stable_sort(p.covered.begin(), p.covered.end(), [](const auto& a, const auto& b) { return a.estimate < b.estimate; });
        if (p.covered.empty()) return p;
        // The most selective filter leads. Each further one joins the
        // intersection when the projections it saves fetching (each a map
        // lookup and a copy) outweigh its own cost: a posting list is
        // advanced once per candidate (skipping blocks), a time range is
        // materialized whole. Selectivities are taken as independent; the
        // weights come from index_bench (a projection fetch ~1 µs, a
        // posting advance ~1/20 of that, a range entry ~1/100).
        const double n = static_cast<double>(std::max<std::size_t>(p.listed, 1));
        double candidates = static_cast<double>(p.covered.front().estimate);
        p.covered.front().used = true;
        for (std::size_t i = 1; i < p.covered.size(); ++i) {
            auto& c = p.covered[i];
            double selectivity = std::min(1.0, static_cast<double>(c.estimate) / n);
            double saved = candidates * (1 - selectivity);
            double cost = c.query.type() == text_query::kind::range ? 0.01 * static_cast<double>(c.estimate) : 0.05 * candidates;
            if (saved > cost) {
                c.used = true;
                candidates *= selectivity;
            }
        }
        p.use_index = p.covered.front().estimate * 4 < p.listed;
        return p;
    }

    bool matches(const filter& f, const field_content& c) const {
        auto eq = [](const query_value& a, const query_value& b) {
            if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
            return comparable(a, b) && compare_values(a, b) == 0;
        };
        switch (f.op) {
            case query_op::eq: return !c.list && eq(c.scalar, f.value);
            case query_op::ne: return c.list || !eq(c.scalar, f.value);
            case query_op::lt:
            case query_op::le:
            case query_op::gt:
            case query_op::ge: {
                if (c.list || !comparable(c.scalar, f.value)) return false;
                int r = compare_values(c.scalar, f.value);
                return f.op == query_op::lt ? r < 0 : f.op == query_op::le ? r <= 0 : f.op == query_op::gt ? r > 0 : r >= 0;
            }
            case query_op::in:
                if (c.list) return false;
                return std::any_of(f.values.begin(), f.values.end(), [&](const query_value& v) { return eq(c.scalar, v); });
            case query_op::contains:
                if (c.list) return std::any_of(c.items.begin(), c.items.end(), [&](const query_value& v) { return eq(v, f.value); });
                if (c.scalar.string() && f.value.string()) return c.scalar.string()->find(*f.value.string()) != std::string::npos;
                return false;
        }
        return false;
    }

    bool accept(const projection_type& p, field_content& scratch) const {
        for (const auto& f : filters_) {
            f.field.read(p, scratch);
            if (!matches(f, scratch)) return false;
        }
        return true;
    }

    std::vector<listed> collect(const plan& p) const {
        if (!p.use_index) return scan_all();
        std::vector<text_query> parts;
        for (const auto& c : p.covered)
            if (c.used) parts.push_back(c.query);
        std::vector<listed> out;
        field_content scratch;
        for (auto& id : index_.search(text_query::all_of(std::move(parts)))) {
            auto proj = store_->projection(id);
            if (proj && accept(*proj, scratch)) out.push_back({std::move(id), std::move(*proj)});
        }
        return out;
    }

    std::vector<listed> scan_all() const {
        auto all = store_->list();
        field_content scratch;
        std::erase_if(all, [&](const listed& l) { return !accept(l.projection, scratch); });
        return all;
    }

    std::vector<listed> finish(std::vector<listed> rows) const {
        if (!sort_.empty()) {
            // Read each sort field once per row, then sort indices.
            std::vector<std::vector<query_value>> keys(rows.size());
            field_content c;
            for (std::size_t i = 0; i < rows.size(); ++i)
                for (const auto& s : sort_) {
                    s.field.read(rows[i].projection, c);
                    keys[i].push_back(c.list ? query_value{} : std::move(c.scalar));
                }
            std::vector<std::size_t> order_of(rows.size());
            std::iota(order_of.begin(), order_of.end(), std::size_t{0});
            auto less = [&](std::size_t a, std::size_t b) {
                for (std::size_t k = 0; k < sort_.size(); ++k) {
                    int r = order_values(keys[a][k], keys[b][k]);
                    if (r) return sort_[k].direction == order::ascending ? r < 0 : r > 0;
                }
                return rows[a].id < rows[b].id;
            };
            std::size_t want = limit_ ? std::min(rows.size(), offset_ + *limit_) : rows.size();
            if (want < rows.size()) std::partial_sort(order_of.begin(), order_of.begin() + static_cast<std::ptrdiff_t>(want), order_of.end(), less);
            else std::sort(order_of.begin(), order_of.end(), less);
            std::vector<listed> sorted;
            sorted.reserve(want);
            for (std::size_t i = 0; i < want; ++i) sorted.push_back(std::move(rows[order_of[i]]));
            rows = std::move(sorted);
        }
        // (Unsorted rows come in id order from both paths.)
        if (offset_ >= rows.size()) return {};
        rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(offset_));
        if (limit_ && rows.size() > *limit_) rows.resize(*limit_);
        return rows;
    }

    const Store* store_;
    index_hooks index_;
    std::vector<filter> filters_;
    std::vector<sort_key> sort_;
    std::optional<std::size_t> limit_;
    std::size_t offset_ = 0;
};

}  // namespace stowage
