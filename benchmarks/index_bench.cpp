// index_bench — full-text search over the shared corpus (200,000 PyPI
// package names and summaries, 60 queries with exact answers), stowage next
// to SQLite FTS5 and Xapian in one run, plus a linear scan; then the
// metadata query engine against a full scan on 10,000 and 100,000
// session-like records. A table printer (not Google Benchmark timing
// loops): every system builds once, then answers every query several times.
//
//   build-bench/benchmarks/index_bench [--reps N] [--skip-meta]
//
// Systems, all on the same machine, files in $STOWAGE_BENCH_DIR (/tmp):
//   stowage          document_index<uint64, file_storage, ascii_tokenizer>:
//                    built in one database transaction (durable), reopened
//                    from disk before querying
//   fts5 (ascii)     SQLite FTS5, contentless, with a custom tokenizer that
//                    applies stowage::ascii_tokenizer (identical tokens)
//   fts5 (unicode61) SQLite FTS5, contentless, its default tokenizer (as
//                    users run it; different tokens, so different answers)
//   xapian           a glass database whose terms are our tokens
//   linear scan      the documents in memory, tokenized for every query
// Queries: each of the 60 as AND (every token), OR (some token) and top-10
// by BM25 (OR semantics); the tokens come from ascii_tokenizer, so every
// system gets the same token list. AND/OR answers are compared with
// expected.tsv. Latency: the median of --reps runs per query, then p50 and
// p99 over the queries (p99 of 60 = the slowest but one).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "session_model.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/database.hpp"
#include "stowage/index/ascii_tokenizer.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/query.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"

#ifdef STOWAGE_BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif
#ifdef STOWAGE_BENCH_HAVE_XAPIAN
#include <xapian.h>
#endif

namespace fs = std::filesystem;
using namespace stowage;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// --- the corpus --------------------------------------------------------------------

struct doc {
    std::uint64_t id;
    std::string name, summary;
};
struct query_case {
    std::string qid, raw;
    std::vector<std::string> tokens;
    std::vector<std::uint64_t> expected_and, expected_or;
};

fs::path data_dir() {
    const char* env = std::getenv("STOWAGE_SHARED_DATA");
    fs::path root = env && *env ? fs::path(env) : fs::path(STOWAGE_SOURCE_DIR) / ".." / "shared" / "data";
    return root / "text";
}

std::string read_gz(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + p.string());
    std::string raw((std::istreambuf_iterator<char>(in)), {});
    return to_string(gzip_decompress(as_bytes(raw)));
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) out.push_back(cur);
    return out;
}

std::vector<doc> load_docs() {
    std::vector<doc> docs;
    std::istringstream in(read_gz(data_dir() / "pypi_docs.tsv.gz"));
    for (std::string line; std::getline(in, line);) {
        auto a = line.find('\t'), b = line.find('\t', a + 1);
        docs.push_back({std::stoull(line.substr(0, a)), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
    }
    return docs;
}

std::vector<query_case> load_queries() {
    std::vector<query_case> qs;
    std::ifstream in(data_dir() / "queries.tsv");
    std::string line;
    std::getline(in, line);
    ascii_tokenizer tok;
    while (std::getline(in, line)) {
        auto f = split(line, '\t');
        query_case q{f[0], f[1], {}, {}, {}};
        tok.tokenize(q.raw, [&](std::string_view t) {
            if (std::find(q.tokens.begin(), q.tokens.end(), t) == q.tokens.end()) q.tokens.emplace_back(t);
        });
        qs.push_back(std::move(q));
    }
    std::istringstream exp(read_gz(data_dir() / "expected.tsv.gz"));
    std::getline(exp, line);
    while (std::getline(exp, line)) {
        auto f = split(line, '\t');
        std::vector<std::uint64_t> ids;
        if (f.size() > 3)
            for (auto& id : split(f[3], ' ')) ids.push_back(std::stoull(id));
        for (auto& q : qs)
            if (q.qid == f[0]) (f[1] == "AND" ? q.expected_and : q.expected_or) = std::move(ids);
    }
    return qs;
}

std::string joined(const std::vector<std::string>& tokens, const char* op) {
    std::string s;
    for (auto& t : tokens) s += (s.empty() ? "" : op) + ("\"" + t + "\"");
    return s;
}

// --- measuring ------------------------------------------------------------------------

struct latency {
    double p50 = 0, p99 = 0;  // microseconds
};

// Per query: the median of reps runs; then p50/p99 over queries.
latency measure(const std::vector<query_case>& qs, int reps, const std::function<void(const query_case&)>& run) {
    std::vector<double> per_query;
    std::vector<std::vector<double>> runs(qs.size());
    for (int r = 0; r < reps; ++r)
        for (std::size_t i = 0; i < qs.size(); ++i) {
            auto t = clock_type::now();
            run(qs[i]);
            runs[i].push_back(seconds_since(t) * 1e6);
        }
    for (auto& v : runs) {
        std::sort(v.begin(), v.end());
        per_query.push_back(v[v.size() / 2]);
    }
    std::sort(per_query.begin(), per_query.end());
    auto rank = [&](double p) { return per_query[std::min(per_query.size() - 1, static_cast<std::size_t>(std::ceil(p * per_query.size())) - 1)]; };
    return {rank(0.50), rank(0.99)};
}

struct system_result {
    std::string name;
    double build_s = 0;
    std::uint64_t bytes = 0;
    latency and_, or_, top10;
    int identical = 0;  // of 120 AND/OR answer sets
    std::string note;
};

int check_answers(const std::vector<query_case>& qs, const std::function<std::vector<std::uint64_t>(const query_case&, bool)>& answer) {
    int same = 0;
    for (auto& q : qs) {
        same += answer(q, true) == q.expected_and;
        same += answer(q, false) == q.expected_or;
    }
    return same;
}

// --- stowage ---------------------------------------------------------------------------

system_result run_stowage(const std::vector<doc>& docs, const std::vector<query_case>& qs, int reps) {
    system_result r{"stowage", 0, 0, {}, {}, {}, 0, ""};
    auto dir = bench::fresh_dir("stowage-index");
    index_schema schema;
    schema.text("name").text("summary");
    {
        auto t = clock_type::now();
        database<file_storage> db{file_storage(dir.string())};
        document_index<std::uint64_t, file_storage, ascii_tokenizer> idx(db, "index", schema);
        index_batch<std::uint64_t> b;
        for (auto& d : docs) b.add(d.id, text_document().text("name", d.name).text("summary", d.summary));
        auto tx = db.transaction();
        idx.replace_all(tx, std::move(b));
        tx.commit();
        r.build_s = seconds_since(t);
        db.checkpoint();
    }
    r.bytes = bench::directory_bytes(dir);
    auto t = clock_type::now();
    database<file_storage> db{file_storage(dir.string(), open_mode::read_only)};
    document_index<std::uint64_t, file_storage, ascii_tokenizer> idx(db, "index", schema);
    r.note = "reopen " + std::to_string(static_cast<int>(seconds_since(t) * 1000)) + " ms; segment " +
             std::to_string(idx.stats().bytes / 1000) + " kB";
    auto search = [&](const query_case& q, bool all) {
        std::string text;
        for (auto& tok : q.tokens) text += tok + " ";
        return idx.search(all ? text_query::words(text) : text_query::any_words(text));
    };
    r.identical = check_answers(qs, search);
    volatile std::size_t sink = 0;
    r.and_ = measure(qs, reps, [&](const query_case& q) { sink = sink + idx.search(text_query::words(q.raw)).size(); });
    r.or_ = measure(qs, reps, [&](const query_case& q) { sink = sink + idx.search(text_query::any_words(q.raw)).size(); });
    r.top10 = measure(qs, reps, [&](const query_case& q) { sink = sink + idx.top(text_query::any_words(q.raw), 10).size(); });
    return r;
}

// In memory, for reference: the build without the database and the disk.
double stowage_memory_build(const std::vector<doc>& docs) {
    index_schema schema;
    schema.text("name").text("summary");
    auto t = clock_type::now();
    text_index<std::uint64_t, ascii_tokenizer> idx(schema);
    index_batch<std::uint64_t> b;
    for (auto& d : docs) b.add(d.id, text_document().text("name", d.name).text("summary", d.summary));
    idx.apply(std::move(b));
    return seconds_since(t);
}

// --- linear scan -------------------------------------------------------------------------

system_result run_scan(const std::vector<doc>& docs, const std::vector<query_case>& qs, int reps) {
    system_result r{"linear scan", 0, 0, {}, {}, {}, 0, "tokenizes every document per query"};
    ascii_tokenizer tok;
    auto search = [&](const query_case& q, bool all) {
        std::vector<std::uint64_t> out;
        if (q.tokens.empty()) return out;
        std::vector<char> seen(q.tokens.size());
        for (auto& d : docs) {
            std::fill(seen.begin(), seen.end(), 0);
            auto mark = [&](std::string_view t) {
                for (std::size_t i = 0; i < q.tokens.size(); ++i)
                    if (q.tokens[i] == t) seen[i] = 1;
            };
            tok.tokenize(d.name, mark);
            tok.tokenize(d.summary, mark);
            bool hit = all ? std::all_of(seen.begin(), seen.end(), [](char c) { return c; })
                           : std::any_of(seen.begin(), seen.end(), [](char c) { return c; });
            if (hit) out.push_back(d.id);
        }
        return out;
    };
    r.identical = check_answers(qs, search);
    volatile std::size_t sink = 0;
    int scan_reps = std::max(1, reps / 3);
    r.and_ = measure(qs, scan_reps, [&](const query_case& q) { sink = sink + search(q, true).size(); });
    r.or_ = measure(qs, scan_reps, [&](const query_case& q) { sink = sink + search(q, false).size(); });
    return r;
}

// --- SQLite FTS5 --------------------------------------------------------------------------

#ifdef STOWAGE_BENCH_HAVE_SQLITE
void sql_check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}
void exec(sqlite3* db, const char* sql) { sql_check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql); }

// FTS5 tokenizer "stowage_ascii": runs of [A-Za-z0-9] (byte offsets kept),
// each passed through stowage::ascii_tokenizer, which lowercases it and
// applies the minimum length and the stop words — the same tokens.
struct fts5_ascii {
    static int create(void*, const char**, int, Fts5Tokenizer** out) {
        *out = reinterpret_cast<Fts5Tokenizer*>(new ascii_tokenizer());
        return SQLITE_OK;
    }
    static void destroy(Fts5Tokenizer* t) { delete reinterpret_cast<ascii_tokenizer*>(t); }
    static int tokenize(Fts5Tokenizer* t, void* ctx, int, const char* text, int n,
                        int (*emit)(void*, int, const char*, int, int, int)) {
        const auto& tok = *reinterpret_cast<ascii_tokenizer*>(t);
        auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
        int i = 0, rc = SQLITE_OK;
        while (i < n && rc == SQLITE_OK) {
            while (i < n && !alnum(text[i])) ++i;
            int start = i;
            while (i < n && alnum(text[i])) ++i;
            if (i == start) break;
            tok.tokenize(std::string_view(text + start, static_cast<std::size_t>(i - start)), [&](std::string_view s) {
                if (rc == SQLITE_OK) rc = emit(ctx, 0, s.data(), static_cast<int>(s.size()), start, i);
            });
        }
        return rc;
    }
};

void register_ascii(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* st = nullptr;
    sql_check(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr), db, "fts5 api");
    sqlite3_bind_pointer(st, 1, reinterpret_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api) throw std::runtime_error("no fts5_api");
    static fts5_tokenizer t{fts5_ascii::create, fts5_ascii::destroy, fts5_ascii::tokenize};
    sql_check(api->xCreateTokenizer(api, "stowage_ascii", nullptr, &t, nullptr), db, "xCreateTokenizer");
}

system_result run_fts5(const std::vector<doc>& docs, const std::vector<query_case>& qs, int reps, bool ascii) {
    system_result r{ascii ? "fts5 (ascii tokenizer)" : "fts5 (unicode61)", 0, 0, {}, {}, {}, 0, ""};
    auto dir = bench::fresh_dir(ascii ? "fts5-ascii" : "fts5-unicode");
    auto file = (dir / "fts.db").string();
    sqlite3* db = nullptr;
    sql_check(sqlite3_open(file.c_str(), &db), db, "open");
    if (ascii) register_ascii(db);
    auto t = clock_type::now();
    exec(db, ascii ? "CREATE VIRTUAL TABLE docs USING fts5(name, summary, content='', tokenize='stowage_ascii')"
                   : "CREATE VIRTUAL TABLE docs USING fts5(name, summary, content='')");
    exec(db, "BEGIN");
    sqlite3_stmt* ins = nullptr;
    sql_check(sqlite3_prepare_v2(db, "INSERT INTO docs(rowid, name, summary) VALUES (?1, ?2, ?3)", -1, &ins, nullptr), db, "prepare");
    for (auto& d : docs) {
        sqlite3_bind_int64(ins, 1, static_cast<sqlite3_int64>(d.id));
        sqlite3_bind_text(ins, 2, d.name.data(), static_cast<int>(d.name.size()), SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, d.summary.data(), static_cast<int>(d.summary.size()), SQLITE_STATIC);
        sql_check(sqlite3_step(ins), db, "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec(db, "COMMIT");
    r.build_s = seconds_since(t);
    sqlite3_close(db);
    r.bytes = bench::directory_bytes(dir);
    sql_check(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "reopen");
    if (ascii) register_ascii(db);
    sqlite3_stmt *ids = nullptr, *best = nullptr;
    sql_check(sqlite3_prepare_v2(db, "SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rowid", -1, &ids, nullptr), db, "q");
    sql_check(sqlite3_prepare_v2(db, "SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs) LIMIT 10", -1, &best, nullptr), db, "q");
    auto run = [&](sqlite3_stmt* st, const std::string& match) {
        std::vector<std::uint64_t> out;
        if (match.empty()) return out;  // no tokens: no results, as the spec says
        sqlite3_bind_text(st, 1, match.data(), static_cast<int>(match.size()), SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) out.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(st, 0)));
        sqlite3_reset(st);
        return out;
    };
    auto search = [&](const query_case& q, bool all) { return run(ids, joined(q.tokens, all ? " AND " : " OR ")); };
    r.identical = check_answers(qs, search);
    volatile std::size_t sink = 0;
    r.and_ = measure(qs, reps, [&](const query_case& q) { sink = sink + search(q, true).size(); });
    r.or_ = measure(qs, reps, [&](const query_case& q) { sink = sink + search(q, false).size(); });
    r.top10 = measure(qs, reps, [&](const query_case& q) { sink = sink + run(best, joined(q.tokens, " OR ")).size(); });
    sqlite3_finalize(ids);
    sqlite3_finalize(best);
    sqlite3_close(db);
    r.note = "contentless table";
    return r;
}
#endif

// --- Xapian ----------------------------------------------------------------------------------

#ifdef STOWAGE_BENCH_HAVE_XAPIAN
system_result run_xapian(const std::vector<doc>& docs, const std::vector<query_case>& qs, int reps) {
    system_result r{"xapian", 0, 0, {}, {}, {}, 0, "glass; terms = ascii_tokenizer tokens"};
    auto dir = bench::fresh_dir("xapian");
    ascii_tokenizer tok;
    {
        auto t = clock_type::now();
        Xapian::WritableDatabase db(dir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
        for (auto& d : docs) {
            Xapian::Document xd;
            auto add = [&](std::string_view s) { xd.add_term(std::string(s)); };
            tok.tokenize(d.name, add);
            tok.tokenize(d.summary, add);
            db.replace_document(static_cast<Xapian::docid>(d.id + 1), xd);
        }
        db.commit();
        r.build_s = seconds_since(t);
    }
    r.bytes = bench::directory_bytes(dir);
    Xapian::Database db(dir.string());
    auto run = [&](const query_case& q, bool all, bool ranked) {
        std::vector<std::uint64_t> out;
        if (q.tokens.empty()) return out;
        Xapian::Enquire e(db);
        e.set_query(Xapian::Query(all ? Xapian::Query::OP_AND : Xapian::Query::OP_OR, q.tokens.begin(), q.tokens.end()));
        if (ranked) {
            e.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0.5));
            auto m = e.get_mset(0, 10);
            for (auto it = m.begin(); it != m.end(); ++it) out.push_back(*it - 1);
            return out;
        }
        e.set_weighting_scheme(Xapian::BoolWeight());
        e.set_docid_order(Xapian::Enquire::ASCENDING);
        auto m = e.get_mset(0, db.get_doccount());
        out.reserve(m.size());
        for (auto it = m.begin(); it != m.end(); ++it) out.push_back(*it - 1);
        return out;
    };
    r.identical = check_answers(qs, [&](const query_case& q, bool all) { return run(q, all, false); });
    volatile std::size_t sink = 0;
    r.and_ = measure(qs, reps, [&](const query_case& q) { sink = sink + run(q, true, false).size(); });
    r.or_ = measure(qs, reps, [&](const query_case& q) { sink = sink + run(q, false, false).size(); });
    r.top10 = measure(qs, reps, [&](const query_case& q) { sink = sink + run(q, false, true).size(); });
    return r;
}
#endif

// --- the metadata query engine ------------------------------------------------------------------

namespace meta {

struct summary {
    std::string id;
    std::string name;
    app::status state = app::status::draft;
    std::int64_t start_time = 0;
    double duration_s = 0;
    std::vector<std::string> tags;
    std::vector<std::uint32_t> topic_ids;
};
STOWAGE_DESCRIBE(summary, id, name, state, start_time, duration_s, tags, topic_ids)

using sessions_t = db_store<app::session, memory_storage, binary_codec, crc32c, summary>;

void run(std::size_t n, int reps) {
    std::mt19937_64 rng(42);
    memory_storage mem;
    database<memory_storage> db(mem);
    sessions_t sessions(db.storage(), "sessions");
    index_schema schema;
    schema.text("name").keyword("state").keyword("tags").keyword("topic_ids").time("start_time");
    inverted_index<sessions_t, ascii_tokenizer> idx(db, sessions, "sessions_index", schema);
    std::vector<app::session> batch;
    for (std::size_t i = 0; i < n; ++i) {
        auto s = app::make_session(i, 600);
        s.state = static_cast<app::status>(rng() % 5);
        s.tags = {"tag" + std::to_string(rng() % 50), rng() % 2 ? "audio" : "video"};
        s.topic_ids = {static_cast<std::uint32_t>(rng() % 200)};
        batch.push_back(std::move(s));
        if (batch.size() == 10000) {
            idx.put_many(batch, durability::none);
            batch.clear();
        }
    }
    if (!batch.empty()) idx.put_many(batch, durability::none);
    const std::int64_t t0 = 1700000000000, span = static_cast<std::int64_t>(n) * 60000;
    // The complex query: state, a time window, a tag, newest first, a page.
    auto make = [&](int i) {
        query<sessions_t> q(sessions);
        q.use(idx)
            .where("state", query_op::eq, app::status::done)
            .where("start_time", query_op::ge, t0 + span / 4 + i)
            .where("start_time", query_op::lt, t0 + span / 2)
            .where("tags", query_op::contains, "tag7")
            .order_by("start_time", order::descending)
            .limit(20);
        return q;
    };
    auto time_it = [&](auto fn) {
        std::vector<double> v;
        for (int r = 0; r < reps * 4; ++r) {
            auto t = clock_type::now();
            fn(r);
            v.push_back(seconds_since(t) * 1e6);
        }
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    volatile std::size_t sink = 0;
    auto plan = make(0).explain();
    double planned = time_it([&](int r) { sink = sink + make(r).run().size(); });
    double scanned = time_it([&](int r) { sink = sink + make(r).scan().size(); });
    if (make(0).run().size() != make(0).scan().size()) throw std::runtime_error("planned and scanned results differ");
    // The replaced approach: read and decode every session, then filter.
    double naive = 0;
    if (n <= 10000) {
        naive = time_it([&](int) {
            std::vector<app::session> hits;
            for (const auto& s : sessions)
                if (s.state == app::status::done && s.start_time >= t0 + span / 4 && s.start_time < t0 + span / 2 &&
                    std::count(s.tags.begin(), s.tags.end(), "tag7"))
                    hits.push_back(s);
            sink = sink + hits.size();
        });
    }
    std::printf("| %zu | %.1f µs | %.1f µs | %s | %.0fx |\n", n, planned, scanned, naive ? (std::to_string(static_cast<int>(naive / 1000)) + " ms").c_str() : "—",
                scanned / planned);
    std::fprintf(stderr, "plan at %zu: %s", n, plan.c_str());
}

}  // namespace meta

std::string us(double v) {
    char b[32];
    if (v >= 10000) std::snprintf(b, sizeof b, "%.1f ms", v / 1000);
    else std::snprintf(b, sizeof b, "%.0f µs", v);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    int reps = 7;
    bool meta_only = false, skip_meta = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--skip-meta") skip_meta = true;
        else if (a == "--meta-only") meta_only = true;
        else {
            std::fprintf(stderr, "usage: index_bench [--reps N] [--skip-meta] [--meta-only]\n");
            return 2;
        }
    }
    try {
        if (!meta_only) {
            auto docs = load_docs();
            auto qs = load_queries();
            std::fprintf(stderr, "%zu documents, %zu queries; scratch on %s\n", docs.size(), qs.size(),
                         bench::describe_filesystem(bench::scratch_root()).c_str());
            std::vector<system_result> rs;
            rs.push_back(run_stowage(docs, qs, reps));
            double mem_build = stowage_memory_build(docs);
#ifdef STOWAGE_BENCH_HAVE_SQLITE
            rs.push_back(run_fts5(docs, qs, reps, true));
            rs.push_back(run_fts5(docs, qs, reps, false));
#endif
#ifdef STOWAGE_BENCH_HAVE_XAPIAN
            rs.push_back(run_xapian(docs, qs, reps));
#endif
            rs.push_back(run_scan(docs, qs, reps));
            std::printf("| system | build | on disk | AND p50 | AND p99 | OR p50 | OR p99 | top-10 p50 | top-10 p99 | identical | notes |\n");
            std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
            for (auto& r : rs) {
                std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/120 | %s |\n", r.name.c_str(),
                            r.build_s ? (std::to_string(r.build_s).substr(0, 4) + " s").c_str() : "—",
                            r.bytes ? (std::to_string(r.bytes / 100000 / 10.0).substr(0, 4) + " MB").c_str() : "—", us(r.and_.p50).c_str(),
                            us(r.and_.p99).c_str(), us(r.or_.p50).c_str(), us(r.or_.p99).c_str(),
                            r.top10.p50 ? us(r.top10.p50).c_str() : "—", r.top10.p99 ? us(r.top10.p99).c_str() : "—", r.identical,
                            r.note.c_str());
            }
            std::printf("\nstowage in-memory build (no database, no disk): %.2f s\n", mem_build);
            for (auto& r : rs)
                if (r.name.starts_with("fts5 (ascii"))
                    std::printf("FTS5 (ascii) / stowage: build %.1fx, AND p50 %.1fx, OR p50 %.1fx, top-10 p50 %.1fx\n",
                                r.build_s / rs[0].build_s, r.and_.p50 / rs[0].and_.p50, r.or_.p50 / rs[0].or_.p50,
                                r.top10.p50 / rs[0].top10.p50);
        }
        if (!skip_meta) {
            std::printf("\n| records | query (planned, index) | full scan of projections | decode every entity | scan / planned |\n");
            std::printf("|---:|---:|---:|---:|---:|\n");
            meta::run(10000, reps);
            meta::run(100000, reps);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "index_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
