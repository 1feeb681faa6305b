// Tests for query.hpp: random filters, sorts and pages over session-like
// records equal a brute-force evaluation over the entities, both planned
// (through an inverted index) and scanned; the planner picks the index for
// selective filters and says so in explain(); json_document projections;
// bad field names and operators.
#define BOOST_TEST_MODULE query
#include "test_support.hpp"

#include <random>

#include "session_model.hpp"
#include "stowage/database.hpp"
#include "stowage/index/ascii_tokenizer.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/query.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using app::session;
using app::status;

// The listing this test's store keeps (richer than session_model's).
struct listing {
    std::string id;
    std::string name;
    status state = status::draft;
    std::int64_t start_time = 0;
    double duration_s = 0;
    std::vector<std::string> tags;
    std::vector<std::uint32_t> topic_ids;
    std::optional<std::string> notes;
};
STOWAGE_DESCRIBE(listing, id, name, state, start_time, duration_s, tags, topic_ids, notes)

using sessions_t = db_store<session, memory_storage, json_codec, sha256, listing>;
using index_t = inverted_index<sessions_t, ascii_tokenizer>;

namespace {

index_schema session_schema() {
    index_schema s;
    s.text("name").keyword("state").keyword("tags").keyword("topic_ids").time("start_time");
    return s;
}

session random_session(std::mt19937_64& rng, int n) {
    session s = app::make_session(static_cast<std::uint64_t>(n), 300);
    s.state = static_cast<status>(rng() % 5);
    s.start_time = 1700000000000 + static_cast<std::int64_t>(rng() % 1000) * 60000;
    s.duration_s = static_cast<double>(rng() % 7200) / 4;
    s.tags = {"tag" + std::to_string(rng() % 30)};
    if (rng() % 2) s.tags.push_back(rng() % 2 ? "audio" : "video");
    s.topic_ids = {static_cast<std::uint32_t>(rng() % 50)};
    s.notes = rng() % 3 ? std::optional<std::string>() : std::optional<std::string>("note " + std::to_string(rng() % 10));
    return s;
}

// One filter, evaluated directly on an entity.
struct check {
    std::string field;
    query_op op;
    query_value value;
    std::vector<query_value> values;
};

query_value field_of(const session& s, const std::string& f) {
    if (f == "name") return s.name;
    if (f == "state") return s.state;
    if (f == "start_time") return s.start_time;
    if (f == "duration_s") return s.duration_s;
    if (f == "notes") return s.notes ? query_value(*s.notes) : query_value();
    return {};
}

bool holds(const session& s, const check& c) {
    if (c.field == "tags" || c.field == "topic_ids") {
        if (c.op == query_op::ne) return true;
        if (c.op != query_op::contains) return false;
        if (c.field == "tags") return c.value.string() && std::count(s.tags.begin(), s.tags.end(), *c.value.string()) > 0;
        return c.value.integer() && std::count(s.topic_ids.begin(), s.topic_ids.end(), static_cast<std::uint32_t>(*c.value.integer())) > 0;
    }
    query_value v = field_of(s, c.field);
    auto eq = [](const query_value& a, const query_value& b) {
        if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
        return comparable(a, b) && compare_values(a, b) == 0;
    };
    switch (c.op) {
        case query_op::eq: return eq(v, c.value);
        case query_op::ne: return !eq(v, c.value);
        case query_op::in:
            for (auto& x : c.values)
                if (eq(v, x)) return true;
            return false;
        case query_op::contains: return v.string() && c.value.string() && v.string()->find(*c.value.string()) != std::string::npos;
        default: {
            if (!comparable(v, c.value)) return false;
            int r = compare_values(v, c.value);
            return c.op == query_op::lt ? r < 0 : c.op == query_op::le ? r <= 0 : c.op == query_op::gt ? r > 0 : r >= 0;
        }
    }
}

check random_check(std::mt19937_64& rng) {
    const query_op cmp[] = {query_op::eq, query_op::ne, query_op::lt, query_op::le, query_op::gt, query_op::ge};
    std::int64_t t = 1700000000000 + static_cast<std::int64_t>(rng() % 1000) * 60000;
    switch (rng() % 9) {
        case 0: return {"state", rng() % 2 ? query_op::eq : query_op::ne, static_cast<status>(rng() % 5), {}};
        case 1: return {"state", query_op::in, {}, {static_cast<status>(rng() % 5), static_cast<status>(rng() % 5)}};
        case 2: return {"start_time", cmp[rng() % 6], t, {}};
        case 3: return {"duration_s", cmp[rng() % 6], static_cast<double>(rng() % 7200) / 4, {}};
        case 4: return {"tags", query_op::contains, "tag" + std::to_string(rng() % 30), {}};
        case 5: return {"topic_ids", query_op::contains, static_cast<std::int64_t>(rng() % 50), {}};
        case 6: return {"name", query_op::contains, "Recording " + std::to_string(rng() % 20), {}};
        case 7: return {"notes", rng() % 2 ? query_op::eq : query_op::ne, rng() % 2 ? query_value() : query_value("note 3"), {}};
        default: return {"tags", query_op::contains, rng() % 2 ? "audio" : "video", {}};
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_queries_equal_brute_force) {
    std::mt19937_64 rng(stowage::test::test_seed());
    memory_storage mem;
    database<memory_storage> db(mem);
    sessions_t sessions(db.storage(), "sessions");
    index_t idx(db, sessions, "sessions_index", session_schema());
    std::vector<session> all;
    const int n = stowage::test::stress_enabled() ? 20000 : 3000;
    for (int i = 0; i < n; ++i) all.push_back(random_session(rng, i));
    idx.put_many(all);
    for (int i = 0; i < n / 10; ++i) {  // later changes, indexed in the same transactions
        auto s = random_session(rng, static_cast<int>(rng() % n));
        idx.put(s);
        all[static_cast<std::size_t>(std::stoi(s.id.substr(8)))] = s;
    }
    BOOST_REQUIRE(idx.verify().ok());
    std::map<std::string, session> by_id;
    for (auto& s : all) by_id[s.id] = s;
    int indexed = 0, queries = stowage::test::stress_enabled() ? 2000 : 300;
    for (int qn = 0; qn < queries; ++qn) {
        query<sessions_t> q(sessions);
        q.use(idx);
        std::vector<check> checks;
        for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k) {
            auto c = random_check(rng);
            if (c.op == query_op::in) q.where_in(c.field, c.values);
            else q.where(c.field, c.op, c.value);
            checks.push_back(c);
        }
        std::vector<std::string> want;
        for (auto& entry : by_id) {  // no structured binding: clang 14 cannot capture one
            const auto& s = entry.second;
            if (std::all_of(checks.begin(), checks.end(), [&](auto& c) { return holds(s, c); })) want.push_back(entry.first);
        }
        bool sorted = rng() % 2;
        if (sorted) {
            bool desc = rng() % 2;
            q.order_by("start_time", desc ? order::descending : order::ascending);
            std::stable_sort(want.begin(), want.end(), [&](auto& a, auto& b) {
                auto x = by_id[a].start_time, y = by_id[b].start_time;
                return desc ? x > y : x < y;
            });
        }
        std::size_t offset = rng() % 3 ? 0 : rng() % 20, limit = rng() % 2 ? 0 : 1 + rng() % 30;
        if (offset) q.offset(offset);
        if (limit) q.limit(limit);
        want.erase(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(std::min(offset, want.size())));
        if (limit && want.size() > limit) want.resize(limit);
        auto ids = [](const std::vector<sessions_t::listed>& rows) {
            std::vector<std::string> out;
            for (auto& r : rows) out.push_back(r.id);
            return out;
        };
        auto plan = q.explain();
        BOOST_TEST_REQUIRE((ids(q.run()) == want), plan);
        BOOST_TEST_REQUIRE((ids(q.scan()) == want), plan);
        indexed += plan.starts_with("index");
    }
    BOOST_TEST(indexed > queries / 5);  // the planner does use the index
}

BOOST_AUTO_TEST_CASE(planner_and_explain) {
    memory_storage mem;
    database<memory_storage> db(mem);
    sessions_t sessions(db.storage(), "sessions");
    index_t idx(db, sessions, "sessions_index", session_schema());
    std::mt19937_64 rng(11);
    std::vector<session> all;
    for (int i = 0; i < 1000; ++i) all.push_back(random_session(rng, i));
    idx.put_many(all);
    query<sessions_t> q(sessions);
    q.use(idx).where(&listing::tags, query_op::contains, "tag7").where("state", "==", status::done).order_by(&listing::start_time, order::descending).limit(5);
    auto plan = q.explain();
    // Both filters covered, the most selective (one tag of 30 vs one state of 5) first.
    BOOST_TEST(plan.starts_with("index: intersect [tags=\"tag7\""), plan);
    BOOST_TEST(plan.find("state=\"done\"") != std::string::npos, plan);
    auto rows = q.run();
    BOOST_TEST(rows.size() <= 5u);
    for (std::size_t i = 1; i < rows.size(); ++i) BOOST_TEST(rows[i - 1].projection.start_time >= rows[i].projection.start_time);
    // Unselective: a scan.
    query<sessions_t> wide(sessions);
    wide.use(idx).where("state", query_op::ne, status::done).where("start_time", ">", std::int64_t{0});
    BOOST_TEST(wide.explain().starts_with("scan"), wide.explain());
    BOOST_TEST(wide.run().size() == wide.scan().size());
    // Without an index: a scan with the same answer.
    query<sessions_t> plain(sessions);
    plain.where(&listing::tags, query_op::contains, "tag7").where("state", "==", status::done);
    BOOST_TEST(plain.explain().starts_with("scan"));
    BOOST_TEST(plain.run().size() == q.limit(1000).run().size());
    BOOST_CHECK_THROW(query<sessions_t>(sessions).where("nonexistent", query_op::eq, 1), stowage::error);
    BOOST_CHECK_THROW(query<sessions_t>(sessions).where("state", "~=", 1), stowage::error);
}

BOOST_AUTO_TEST_CASE(json_document_projections) {
    memory_storage mem;
    database<memory_storage> db(mem);
    db_store<session, memory_storage> plain(db.storage(), "plain");  // default projection: top-level scalars
    std::mt19937_64 rng(5);
    std::vector<session> all;
    for (int i = 0; i < 300; ++i) all.push_back(random_session(rng, i));
    for (auto& s : all) plain.put(s);
    query<db_store<session, memory_storage>> q(plain);
    q.where("state", query_op::in, "done").where("duration_s", ">=", 500.0).order_by("duration_s").order_by("name", order::descending);
    std::vector<const session*> want;
    for (auto& s : all)
        if (s.state == status::done && s.duration_s >= 500) want.push_back(&s);
    std::sort(want.begin(), want.end(), [](auto* a, auto* b) {
        if (a->duration_s != b->duration_s) return a->duration_s < b->duration_s;
        if (a->name != b->name) return a->name > b->name;
        return a->id < b->id;
    });
    auto rows = q.run();
    BOOST_REQUIRE(rows.size() == want.size());
    for (std::size_t i = 0; i < rows.size(); ++i) BOOST_TEST(rows[i].id == want[i]->id);
}
