// Tests for index/text_index.hpp (with index/segment.hpp and index/bm25.hpp):
//   - the shared corpus (shared_data): the 60 queries' AND and OR sets equal
//     expected.tsv exactly, built in one batch and built incrementally
//     through many segments and merges (the bulk build always over all
//     200,000 documents; the incremental one over a deterministic part of
//     the corpus by default, all of it with STOWAGE_STRESS=1);
//   - BM25 scores against a hand-computed example;
//   - random documents and random queries (words, prefixes, field filters,
//     keywords, ranges, AND/OR/NOT) against a brute-force scan, through
//     adds, updates, removes and merges; top-k against brute-force BM25F;
//   - segments: serialization round trip, damaged bytes, merge semantics;
//   - searches concurrent with a writer see whole batches only.
#define BOOST_TEST_MODULE index_text_index
#include "test_support.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "stowage/codec/gzip.hpp"
#include "stowage/index/ascii_tokenizer.hpp"
#include "stowage/index/text_index.hpp"
#include "stowage/index/unicode_tokenizer.hpp"

using namespace stowage;
using q = stowage::text_query;

namespace {

// --- the shared corpus ------------------------------------------------------------

struct corpus_doc {
    std::uint64_t id;
    std::string name, summary;
};
struct expected_row {
    std::string qid, mode;
    std::vector<std::uint64_t> ids;
};
struct corpus {
    std::vector<corpus_doc> docs;
    std::map<std::string, std::string> queries;  // qid -> raw query
    std::vector<expected_row> expected;
};

std::string read_gz(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), {});
    return to_string(gzip_decompress(as_bytes(raw)));
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        auto p = s.find(sep);
        out.push_back(s.substr(0, p));
        if (p == std::string_view::npos) return out;
        s = s.substr(p + 1);
    }
}

const corpus& load_corpus() {
    static corpus c = [] {
        corpus c;
        auto dir = stowage::test::shared_data("text");
        std::string docs = read_gz(dir / "pypi_docs.tsv.gz");
        for (auto line : split(docs, '\n')) {
            if (line.empty()) continue;
            auto f = split(line, '\t');
            BOOST_REQUIRE(f.size() == 3u);
            c.docs.push_back({std::stoull(std::string(f[0])), std::string(f[1]), std::string(f[2])});
        }
        std::ifstream qs(dir / "queries.tsv");
        std::string line;
        std::getline(qs, line);
        while (std::getline(qs, line)) {
            auto f = split(line, '\t');
            c.queries[std::string(f[0])] = std::string(f[1]);
        }
        std::string exp = read_gz(dir / "expected.tsv.gz");
        bool header = true;
        for (auto line : split(exp, '\n')) {
            if (line.empty()) continue;
            if (header) {
                header = false;
                continue;
            }
            auto f = split(line, '\t');
            expected_row r{std::string(f[0]), std::string(f[1]), {}};
            if (f.size() > 3 && !f[3].empty())
                for (auto id : split(f[3], ' ')) r.ids.push_back(std::stoull(std::string(id)));
            BOOST_REQUIRE(r.ids.size() == std::stoull(std::string(f[2])));
            c.expected.push_back(std::move(r));
        }
        return c;
    }();
    return c;
}

index_schema corpus_schema() {
    index_schema s;
    s.text("name").text("summary");
    return s;
}

text_document corpus_document(const corpus_doc& d) { return text_document().text("name", d.name).text("summary", d.summary); }


template <class Index>
void check_corpus_answers(const Index& idx, std::uint64_t limit) {
    const auto& c = load_corpus();
    std::size_t checked = 0;
    for (const auto& row : c.expected) {
        std::vector<std::uint64_t> want;
        for (auto id : row.ids)
            if (id < limit) want.push_back(id);
        const std::string& raw = c.queries.at(row.qid);
        auto query = row.mode == "AND" ? q::words(raw) : q::any_words(raw);
        auto got = idx.search(query);
        BOOST_TEST_REQUIRE(got.size() == want.size(), row.qid << " " << row.mode << " \"" << raw << "\"");
        BOOST_TEST((got == want), row.qid << " " << row.mode);
        BOOST_TEST(idx.count(query) == want.size());
        ++checked;
    }
    BOOST_TEST(checked == 120u);
}

}  // namespace

BOOST_AUTO_TEST_CASE(corpus_bulk_build, *boost::unit_test::label("shared_data")) {
    const auto& c = load_corpus();
    BOOST_REQUIRE(c.docs.size() == 200000u);
    std::size_t limit = c.docs.size();  // the whole corpus: a few seconds
    text_index<std::uint64_t, ascii_tokenizer> idx(corpus_schema());
    index_batch<std::uint64_t> b;
    for (std::size_t i = 0; i < limit; ++i) b.add(c.docs[i].id, corpus_document(c.docs[i]));
    idx.apply(std::move(b));
    BOOST_TEST(idx.size() == limit);
    BOOST_TEST(idx.stats().segments == 1u);
    check_corpus_answers(idx, limit);
    {
        // The README's counts.
        BOOST_TEST(idx.count(q::words("python")) == 35443u);
        BOOST_TEST(idx.count(q::words("of the")) == 18026u);
        BOOST_TEST(idx.count(q::any_words("naïve bayes")) == 165u);
    }
}

// The same answers when the corpus arrives in batches of varying size, in
// shuffled order, with some documents first indexed with wrong text, then
// corrected, and some removed and re-added: many segments, merges,
// supersession and tombstones.
BOOST_AUTO_TEST_CASE(corpus_incremental_build, *boost::unit_test::label("shared_data")) {
    const auto& c = load_corpus();
    std::size_t limit = stowage::test::stress_enabled() ? 200000 : 20000;
    std::mt19937_64 rng(stowage::test::test_seed());
    std::vector<std::size_t> order(limit);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    text_index<std::uint64_t, ascii_tokenizer> idx(corpus_schema());
    std::size_t i = 0;
    std::vector<std::uint64_t> wrong;
    while (i < order.size()) {
        index_batch<std::uint64_t> b;
        std::size_t n = 1 + rng() % (rng() % 8 == 0 ? 2000 : 40);
        for (; n > 0 && i < order.size(); --n, ++i) {
            const auto& d = c.docs[order[i]];
            if (rng() % 50 == 0) {
                b.add(d.id, text_document().text("summary", "python django pdf wrong"));
                wrong.push_back(d.id);
            } else {
                b.add(d.id, corpus_document(d));
            }
        }
        if (rng() % 3 == 0 && !wrong.empty()) {  // fix some wrong ones, remove others for good
            for (int k = 0; k < 5 && !wrong.empty(); ++k) {
                auto id = wrong.back();
                wrong.pop_back();
                b.add(id, corpus_document(c.docs[id]));
            }
        }
        idx.apply(std::move(b));
    }
    for (auto id : wrong) {
        BOOST_TEST(idx.remove(id));
        BOOST_TEST(!idx.contains(id));
        idx.add(id, corpus_document(c.docs[id]));
    }
    auto st = idx.stats();
    BOOST_TEST_MESSAGE("segments " << st.segments << " deleted " << st.deleted);
    BOOST_TEST(st.segments > 1u);
    BOOST_TEST(st.segments < 60u);
    BOOST_TEST(idx.size() == limit);
    check_corpus_answers(idx, limit);
    idx.optimize();
    BOOST_TEST(idx.stats().segments == 1u);
    BOOST_TEST(idx.stats().deleted == 0u);
    check_corpus_answers(idx, limit);
}

// --- BM25 by hand -------------------------------------------------------------------

// Three documents, one text field, k1 = 1.2, b = 0.75:
//   d1 "apple banana apple"  (3 tokens)
//   d2 "banana cherry"       (2 tokens)
//   d3 "apple"               (1 token)
// N = 3, avglen = 2. idf(apple) = ln(1 + (3-2+0.5)/(2+0.5)) = ln 1.6;
// idf(banana) = ln 1.6; idf(cherry) = ln(1 + 2.5/1.5) = ln(8/3).
// "apple": d1 tf=2, norm = 0.25 + 0.75*3/2 = 1.375, tf~ = 2/1.375 = 16/11,
//   score = ln1.6 * (16/11)(2.2)/((16/11)+1.2) = ln1.6 * 3.2/(29.2/11) = ln1.6 * 35.2/29.2
//   d3 tf=1, norm = 0.25 + 0.75*0.5 = 0.625, tf~ = 1.6, score = ln1.6 * 1.6*2.2/2.8 = ln1.6 * 3.52/2.8
BOOST_AUTO_TEST_CASE(bm25_hand_computed) {
    index_schema s;
    s.text("body");
    text_index<std::string, ascii_tokenizer> idx(s);
    idx.add("d1", text_document().text("body", "apple banana apple"));
    idx.add("d2", text_document().text("body", "banana cherry"));
    idx.add("d3", text_document().text("body", "apple"));
    const double ln16 = std::log(1.6), ln83 = std::log(8.0 / 3.0);
    auto hits = idx.top(q::any_words("apple"), 10);
    BOOST_REQUIRE(hits.size() == 2u);
    BOOST_TEST(hits[0].key == "d3");  // 1.2571 * ln1.6 beats 1.2055 * ln1.6: shorter document
    BOOST_TEST(hits[0].score == ln16 * 3.52 / 2.8, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(hits[1].key == "d1");
    BOOST_TEST(hits[1].score == ln16 * 35.2 / 29.2, boost::test_tools::tolerance(1e-12));
    // "banana cherry": d2 holds both, tf=1, len=2 (norm 1): tf~ = 1, per term 2.2/2.2 = 1.
    // d1 holds banana, tf=1, norm 1.375: tf~ = 1/1.375 = 8/11: 2.2*(8/11)/(8/11+1.2) = 1.6/(21.2/11) = 17.6/21.2.
    hits = idx.top(q::any_words("banana cherry"), 10);
    BOOST_REQUIRE(hits.size() == 2u);
    BOOST_TEST(hits[0].key == "d2");
    BOOST_TEST(hits[0].score == ln16 + ln83, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(hits[1].key == "d1");
    BOOST_TEST(hits[1].score == ln16 * 17.6 / 21.2, boost::test_tools::tolerance(1e-12));
    // k = 1 keeps the best; other parameters change the numbers as the formula says.
    BOOST_TEST(idx.top(q::any_words("banana cherry"), 1).size() == 1u);
    bm25_params flat{1.2, 0.0};  // no length normalisation: d1 tf=2 -> 2*2.2/3.2
    hits = idx.top(q::any_words("apple"), 10, flat);
    BOOST_TEST(hits[0].key == "d1");
    BOOST_TEST(hits[0].score == ln16 * 4.4 / 3.2, boost::test_tools::tolerance(1e-12));
    BOOST_CHECK_THROW(idx.top(q::any_words("apple"), 10, bm25_params{1.2, 1.5}), stowage::error);
    // Removing d2 changes N and df: idf(banana) = ln(1 + 1.5/1.5) = ln 2, avglen = 2.
    idx.remove("d2");
    hits = idx.top(q::words("banana"), 10);
    BOOST_REQUIRE(hits.size() == 1u);
    BOOST_TEST(hits[0].score == std::log(2.0) * (2.2 * (1 / 1.375)) / ((1 / 1.375) + 1.2), boost::test_tools::tolerance(1e-12));
}

// Two weighted fields (BM25F): title weight 2, body weight 1.
//   a: title "rust", body "fast safe"       b: title "go", body "rust rust"
// N=2, df(rust)=2: idf = ln(1 + 0.5/2.5) = ln 1.2. avg title len 1, avg body 2.
//   a: tf~ = 2*1/(0.25+0.75*1) = 2            -> 2*2.2/3.2   = 1.375
//   b: tf~ = 1*2/(0.25+0.75*2/2) = 2          -> 1.375 as well: tie, broken by key
//   with body weight 1.5: b: tf~ = 3 -> 3*2.2/4.2
BOOST_AUTO_TEST_CASE(bm25f_field_weights) {
    for (double body : {1.0, 1.5}) {
        index_schema s;
        s.text("title", 2.0).text("body", body);
        text_index<std::string, ascii_tokenizer> idx(s);
        idx.add("a", text_document().text("title", "rust").text("body", "fast safe"));
        idx.add("b", text_document().text("title", "go").text("body", "rust rust"));
        auto hits = idx.top(q::words("rust"), 2);
        BOOST_REQUIRE(hits.size() == 2u);
        double idf = std::log(1.2);
        if (body == 1.0) {
            BOOST_TEST(hits[0].key == "a");
            BOOST_TEST(hits[0].score == idf * 1.375, boost::test_tools::tolerance(1e-12));
            BOOST_TEST(hits[1].score == idf * 1.375, boost::test_tools::tolerance(1e-12));
        } else {
            BOOST_TEST(hits[0].key == "b");
            BOOST_TEST(hits[0].score == idf * 6.6 / 4.2, boost::test_tools::tolerance(1e-12));
        }
        // Restricted to the title field only a matches, scored on its title alone.
        hits = idx.top(q::words("rust", "title"), 2);
        BOOST_REQUIRE(hits.size() == 1u);
        BOOST_TEST(hits[0].key == "a");
    }
}

// --- random documents against a brute-force model --------------------------------------

namespace {

const std::vector<std::string> vocabulary = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                                             "iota", "kappa", "lambda", "mu", "alphabet", "alpine", "betamax",
                                             "gammon", "the", "and", "x", "naïve", "Naive", "日本語"};
const std::vector<std::string> tags = {"red", "green", "blue", "a b", ""};

struct model_doc {
    std::string title, body;
    std::vector<std::string> tags;
    std::string status;
    std::optional<std::int64_t> when;
};

std::string random_text(std::mt19937_64& rng, int max_words) {
    std::string s;
    int n = static_cast<int>(rng() % static_cast<std::uint64_t>(max_words + 1));
    for (int i = 0; i < n; ++i) {
        if (i) s += rng() % 5 ? " " : "-";
        s += vocabulary[rng() % vocabulary.size()];
    }
    return s;
}

model_doc random_doc(std::mt19937_64& rng) {
    model_doc d;
    d.title = random_text(rng, 3);
    d.body = random_text(rng, 8);
    for (int i = static_cast<int>(rng() % 3); i > 0; --i) d.tags.push_back(tags[rng() % tags.size()]);
    d.status = rng() % 2 ? "open" : "done";
    if (rng() % 4) d.when = static_cast<std::int64_t>(rng() % 1000) - 300;
    return d;
}

text_document to_document(const model_doc& d) {
    text_document t;
    t.text("title", d.title).text("body", d.body).keyword("status", d.status);
    for (const auto& tag : d.tags) t.keyword("tag", tag);
    if (d.when) t.time("when", *d.when);
    return t;
}

index_schema model_schema() {
    index_schema s;
    s.text("title", 3.0).text("body").keyword("tag").keyword("status").time("when");
    return s;
}

// The model's view of a document: tokens per field.
struct analyzed {
    std::vector<std::string> title, body;
};

template <class Tok>
std::vector<std::string> toks(const Tok& t, const std::string& s, bool filter = true) {
    std::vector<std::string> out;
    t.tokenize(s, [&](std::string_view x) { out.emplace_back(x); }, filter);
    return out;
}

// Brute-force evaluation of a query on one document.
template <class Tok>
bool matches(const Tok& tok, const q& query, const model_doc& d) {
    using kind = q::kind;
    auto has = [&](const std::string& field, auto pred) {
        bool found = false;
        if (field.empty() || field == "title")
            for (auto& t : toks(tok, d.title)) found = found || pred(t);
        if (field.empty() || field == "body")
            for (auto& t : toks(tok, d.body)) found = found || pred(t);
        return found;
    };
    switch (query.type()) {
        case kind::everything: return true;
        case kind::nothing: return false;
        case kind::words: {
            auto words = toks(tok, query.text());
            if (words.empty()) return false;
            bool all = true, any = false;
            for (auto& w : words) {
                bool h = has(query.field(), [&](const std::string& t) { return t == w; });
                all = all && h;
                any = any || h;
            }
            return query.match() == q::mode::all ? all : any;
        }
        case kind::prefix: {
            auto ps = toks(tok, query.text(), false);
            if (ps.empty()) return false;
            for (auto& p : ps)
                if (!has(query.field(), [&](const std::string& t) { return t.starts_with(p); })) return false;
            return true;
        }
        case kind::keyword:
            if (query.field() == "status") return d.status == query.text();
            return std::find(d.tags.begin(), d.tags.end(), query.text()) != d.tags.end();
        case kind::range: return d.when && *d.when >= query.from() && *d.when <= query.to();
        case kind::all_of:
            for (auto& c : query.children())
                if (!matches(tok, c, d)) return false;
            return true;
        case kind::any_of:
            for (auto& c : query.children())
                if (matches(tok, c, d)) return true;
            return false;
        case kind::negation: return !matches(tok, query.children().front(), d);
    }
    return false;
}

q random_query(std::mt19937_64& rng, int depth = 0) {
    auto word = [&] { return vocabulary[rng() % vocabulary.size()]; };
    auto field = [&]() -> std::string { return rng() % 4 ? "" : (rng() % 2 ? "title" : "body"); };
    switch (rng() % (depth > 2 ? 6 : 10)) {
        case 0: return q::words(word() + " " + word(), field());
        case 1: return q::any_words(word() + " " + word() + " " + word(), field());
        case 2: return q::words(word(), field());
        case 3: {
            std::string w = word();
            return q::prefix(w.substr(0, 1 + rng() % w.size()), field());
        }
        case 4: return rng() % 2 ? q::keyword("tag", tags[rng() % tags.size()]) : q::keyword("status", rng() % 2 ? "open" : "done");
        case 5: {
            std::int64_t a = static_cast<std::int64_t>(rng() % 1200) - 400, b = a + static_cast<std::int64_t>(rng() % 500) - 50;
            return q::range("when", a, b);
        }
        case 6: return random_query(rng, depth + 1) && random_query(rng, depth + 1);
        case 7: return random_query(rng, depth + 1) || random_query(rng, depth + 1);
        case 8: return random_query(rng, depth + 1) && !random_query(rng, depth + 1);
        default: return rng() % 2 ? !random_query(rng, depth + 1) : q::all_of({random_query(rng, depth + 1), random_query(rng, depth + 1), random_query(rng, depth + 1)});
    }
}

// Brute-force BM25F over the model (independent of the index's code).
template <class Tok>
std::map<std::string, double> model_scores(const Tok& tok, const std::map<std::string, model_doc>& docs, const q& query,
                                           const std::vector<std::string>& matched) {
    std::vector<std::pair<std::string, std::string>> terms;  // (token, field or "")
    std::function<void(const q&, bool)> collect = [&](const q& n, bool neg) {
        if (n.type() == q::kind::negation) neg = !neg;
        if (n.type() == q::kind::words && !neg)
            for (auto& w : toks(tok, n.text()))
                if (std::find(terms.begin(), terms.end(), std::pair{w, n.field()}) == terms.end()) terms.push_back({w, n.field()});
        for (auto& c : n.children()) collect(c, neg);
    };
    collect(query, false);
    double n = static_cast<double>(docs.size()), sum_title = 0, sum_body = 0;
    std::map<std::string, analyzed> an;
    for (auto& [k, d] : docs) {
        an[k] = {toks(tok, d.title), toks(tok, d.body)};
        sum_title += static_cast<double>(an[k].title.size());
        sum_body += static_cast<double>(an[k].body.size());
    }
    double avg[2] = {sum_title / n, sum_body / n}, weight[2] = {3.0, 1.0};
    std::map<std::string, double> out;
    for (auto& k : matched) out[k] = 0;
    for (auto& [w, field] : terms) {
        double df = 0;
        for (auto& [k, a] : an) {
            bool in_title = std::count(a.title.begin(), a.title.end(), w) > 0, in_body = std::count(a.body.begin(), a.body.end(), w) > 0;
            if (field == "title" ? in_title : field == "body" ? in_body : (in_title || in_body)) df += 1;
        }
        double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
        for (auto& k : matched) {
            const auto& a = an[k];
            const std::vector<std::string>* f[2] = {&a.title, &a.body};
            double pseudo = 0;
            for (int i = 0; i < 2; ++i) {
                if (!field.empty() && field != (i == 0 ? "title" : "body")) continue;
                double tf = static_cast<double>(std::count(f[i]->begin(), f[i]->end(), w));
                if (tf > 0) pseudo += weight[i] * tf / (1 - 0.75 + 0.75 * static_cast<double>(f[i]->size()) / avg[i]);
            }
            if (pseudo > 0) out[k] += idf * pseudo * 2.2 / (pseudo + 1.2);
        }
    }
    return out;
}

template <class Tok>
void check_against_model(const text_index<std::string, Tok>& idx, const std::map<std::string, model_doc>& model,
                         std::mt19937_64& rng, int queries) {
    BOOST_TEST_REQUIRE(idx.size() == model.size());
    for (int i = 0; i < queries; ++i) {
        q query = random_query(rng);
        std::vector<std::string> want;
        for (auto& [k, d] : model)
            if (matches(idx.tokenizer(), query, d)) want.push_back(k);
        auto got = idx.search(query);
        BOOST_TEST_REQUIRE((got == want), query.to_string() << ": got " << got.size() << " want " << want.size());
        BOOST_TEST_REQUIRE(idx.count(query) == want.size());
        if (i % 4 == 0 && !want.empty()) {
            std::size_t k = 1 + rng() % 8;
            auto hits = idx.top(query, k);
            auto scores = model_scores(idx.tokenizer(), model, query, want);
            std::vector<std::pair<double, std::string>> ranked;
            for (auto& [key, s] : scores) ranked.push_back({-s, key});
            std::sort(ranked.begin(), ranked.end());
            BOOST_TEST_REQUIRE(hits.size() == std::min(k, want.size()));
            for (std::size_t h = 0; h < hits.size(); ++h) {
                // Equal scores may be ordered either way by rounding: compare scores, and keys where clearly apart.
                BOOST_TEST_REQUIRE(hits[h].score == -ranked[h].first, boost::test_tools::tolerance(1e-9));
                BOOST_TEST_REQUIRE(scores.at(hits[h].key) == hits[h].score, boost::test_tools::tolerance(1e-9));
            }
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_operations_against_brute_force) {
    auto seed = stowage::test::test_seed();
    int rounds = stowage::test::stress_enabled() ? 40 : 6;
    for (int round = 0; round < rounds; ++round) {
        std::mt19937_64 rng(seed + static_cast<std::uint64_t>(round));
        text_index_options o;
        o.merge_factor = 2 + static_cast<unsigned>(rng() % 6);
        text_index<std::string, unicode_tokenizer> idx(model_schema(), unicode_tokenizer(), o);
        std::map<std::string, model_doc> model;
        for (int step = 0; step < 120; ++step) {
            index_batch<std::string> b;
            std::map<std::string, std::optional<model_doc>> changes;
            int n = 1 + static_cast<int>(rng() % (rng() % 10 == 0 ? 60 : 4));
            for (int i = 0; i < n; ++i) {
                std::string key = "k" + std::to_string(rng() % 150);
                if (rng() % 4 == 0) {
                    b.remove(key);
                    changes[key] = std::nullopt;
                } else {
                    auto d = random_doc(rng);
                    b.add(key, to_document(d));
                    changes[key] = d;
                }
            }
            idx.apply(std::move(b));
            for (auto& [k, d] : changes) {
                if (d) model[k] = *d;
                else model.erase(k);
            }
            for (int i = 0; i < 3; ++i) {
                std::string key = "k" + std::to_string(rng() % 150);
                BOOST_TEST_REQUIRE(idx.contains(key) == (model.count(key) == 1), key);
            }
            if (step % 10 == 9) check_against_model(idx, model, rng, 25);
            if (rng() % 40 == 0) idx.optimize();
        }
        check_against_model(idx, model, rng, 100);
        // verify()'s fingerprints agree with the documents.
        auto fps = idx.fingerprints();
        BOOST_TEST_REQUIRE(fps.size() == model.size());
        auto it = model.begin();
        for (auto& [k, fp] : fps) {
            BOOST_TEST_REQUIRE(k == it->first);
            BOOST_TEST_REQUIRE(fp == fts::fingerprint(idx.analyze(to_document(it->second))));
            ++it;
        }
    }
}

BOOST_AUTO_TEST_CASE(queries_by_hand) {
    text_index<std::string, unicode_tokenizer> idx(model_schema());
    auto add = [&](std::string k, std::string title, std::string body, std::vector<std::string> tags, std::string status,
                   std::optional<std::int64_t> when) {
        idx.add(k, to_document({std::move(title), std::move(body), std::move(tags), std::move(status), when}));
    };
    add("s1", "Authentication service", "OAuth2 tokens and sessions", {"security", "web"}, "done", 100);
    add("s2", "Author tools", "writing naïve prose", {"writing"}, "open", 200);
    add("s3", "日本語 notes", "tokyo trip", {"travel"}, "done", std::nullopt);
    add("s4", "Weekly sync", "authorization review", {"security"}, "open", 150);
    using v = std::vector<std::string>;
    BOOST_TEST(idx.search(q::prefix("auth")) == (v{"s1", "s2", "s4"}));
    BOOST_TEST(idx.search(q::prefix("auth", "title")) == (v{"s1", "s2"}));
    BOOST_TEST(idx.search(q::prefix("Autho")) == (v{"s2", "s4"}));
    BOOST_TEST(idx.search(q::words("naive")) == (v{"s2"}));
    BOOST_TEST(idx.search(q::words("日本語")) == (v{"s3"}));
    BOOST_TEST(idx.search(q::keyword("tag", "security") && q::keyword("status", "open")) == (v{"s4"}));
    BOOST_TEST(idx.search(q::keyword_in("tag", {"web", "travel"})) == (v{"s1", "s3"}));
    BOOST_TEST(idx.search(q::range("when", 100, 150)) == (v{"s1", "s4"}));
    BOOST_TEST(idx.search(q::range("when", 151, 100)) == v{});
    BOOST_TEST(idx.search(!q::keyword("status", "done")) == (v{"s2", "s4"}));
    BOOST_TEST(idx.search(q::prefix("auth") && !q::keyword("tag", "security")) == (v{"s2"}));
    BOOST_TEST(idx.search(q::words("the and")) == v{});  // only stop words: nothing
    // Months: 100, 150 and 200 ms after the epoch are all January 1970.
    BOOST_TEST((idx.count_by_month("when") == std::map<std::string, std::size_t>{{"1970-01", 3}}));
    add("s5", "march", "", {}, "open", 1709251200000);        // 2024-03-01T00:00:00Z
    add("s6", "feb", "", {}, "open", 1709251199999);          // one ms before
    add("s7", "far", "", {}, "open", 400000000000000000);     // year ~12.7 million
    BOOST_TEST((idx.count_by_month("when", q::keyword("status", "open")) ==
                std::map<std::string, std::size_t>{{"1970-01", 2}, {"2024-02", 1}, {"2024-03", 1}, {"out of range", 1}}));
    BOOST_TEST((idx.count_by_month<std::chrono::seconds>("when", q::words("march")) == std::map<std::string, std::size_t>{{"out of range", 1}}));
    BOOST_CHECK_THROW(idx.count_by_month("title"), stowage::error);
    for (auto k : {"s5", "s6", "s7"}) idx.remove(k);
    BOOST_TEST(idx.search(q::everything()).size() == 4u);
    BOOST_TEST(idx.search(q::all_of({})).size() == 4u);
    BOOST_TEST(idx.search(q::any_of({})) == v{});
    BOOST_CHECK_THROW(idx.search(q::words("x", "status")), stowage::error);   // not a text field
    BOOST_CHECK_THROW(idx.search(q::keyword("nope", "x")), stowage::error);   // no such field
    BOOST_CHECK_THROW(idx.search(q::range("title", 0, 1)), stowage::error);
    BOOST_CHECK_THROW(idx.add("bad", text_document().text("missing", "x")), stowage::error);
    BOOST_CHECK_THROW(idx.add("bad", text_document().time("when", 1).time("when", 2)), stowage::error);
    BOOST_CHECK_THROW(idx.add("", text_document()), stowage::error);
    BOOST_TEST(idx.size() == 4u);  // failed adds changed nothing
    auto st = idx.stats();
    BOOST_TEST(st.documents == 4u);
    BOOST_TEST(st.terms > 10u);
    BOOST_TEST(st.bytes > 0u);
}

// --- segments ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(segment_bytes_are_checked) {
    text_index<std::string, ascii_tokenizer> idx(model_schema());
    index_batch<std::string> b;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 300; ++i) b.add("doc" + std::to_string(i), to_document(random_doc(rng)));
    b.remove("gone");
    auto p = idx.prepare(std::move(b), 1);
    bytes data = p.seg->data();
    // Round trip.
    auto again = fts::segment<std::string>::parse(data, idx.shape(), "x");
    BOOST_TEST(again->size() == 300u);
    BOOST_TEST(again->tombstones() == std::vector<std::string>{"gone"});
    BOOST_TEST(again->term_count() == p.seg->term_count());
    // Every truncation and byte flip is detected (CRC), before any parsing.
    for (std::size_t n = 0; n < data.size(); n += 1 + n / 50) {
        bytes cut(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
        BOOST_CHECK_THROW(fts::segment<std::string>::parse(cut, idx.shape(), "x"), stowage::error);
    }
    for (int i = 0; i < 200; ++i) {
        bytes flip = data;
        flip[rng() % flip.size()] ^= std::byte{0x10};
        try {
            fts::segment<std::string>::parse(flip, idx.shape(), "x");
            BOOST_FAIL("a flipped byte was not detected");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::checksum_mismatch || e.kind() == errc::corrupt));
        }
    }
    // A different schema or tokenizer refuses the segment.
    index_schema other;
    other.text("title");
    text_index<std::string, ascii_tokenizer> idx2(other);
    BOOST_CHECK_THROW(fts::segment<std::string>::parse(data, idx2.shape(), "x"), stowage::error);
    text_index<std::string, unicode_tokenizer> idx3(model_schema());
    BOOST_CHECK_THROW(fts::segment<std::string>::parse(data, idx3.shape(), "x"), stowage::error);
}

// --- concurrency ------------------------------------------------------------------------

// One writer replaces 64 documents per batch (generation g: every document
// holds "common" and "gen<g>"); readers must always see exactly one whole
// generation, never a mix, while merges run.
BOOST_AUTO_TEST_CASE(searches_concurrent_with_a_writer) {
    index_schema s;
    s.text("body");
    text_index_options o;
    o.merge_factor = 3;
    text_index<std::uint64_t, ascii_tokenizer> idx(s, ascii_tokenizer(), o);
    const int docs = 64, generations = stowage::test::stress_enabled() ? 2000 : 300;
    auto batch_of = [&](int g) {
        index_batch<std::uint64_t> b;
        for (int d = 0; d < docs; ++d) b.add(static_cast<std::uint64_t>(d), text_document().text("body", "common gen" + std::to_string(g)));
        return b;
    };
    idx.apply(batch_of(0));
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, checks{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (!done) {
                auto common = idx.search(q::words("common"));
                if (common.size() != static_cast<std::size_t>(docs)) ++failures;
                auto hits = idx.top(q::prefix("gen"), 5);
                if (hits.size() != 5u) ++failures;
                auto st = idx.stats();
                if (st.documents != static_cast<std::uint64_t>(docs)) ++failures;
                // Whichever generation is visible, it is complete.
                std::set<std::size_t> counts;
                for (int g = 0; g < generations; g += std::max(1, generations / 20)) counts.insert(idx.count(q::words("gen" + std::to_string(g))));
                for (auto c : counts)
                    if (c != 0 && c != static_cast<std::size_t>(docs)) ++failures;
                ++checks;
            }
        });
    }
    // Readers must run while generations are applied, also on a loaded
    // machine where the applying loop could otherwise finish first.
    stowage::test::wait_for_progress(checks, 0);
    int seen = 0;
    for (int g = 1; g < generations; ++g) {
        if (g == generations / 2) seen = checks;
        if (g == generations / 2 + generations / 4) stowage::test::wait_for_progress(checks, seen);
        idx.apply(batch_of(g));
    }
    done = true;
    for (auto& t : readers) t.join();
    BOOST_TEST(failures == 0);
    BOOST_TEST(checks > 0);
    BOOST_TEST(idx.count(q::words("gen" + std::to_string(generations - 1))) == static_cast<std::size_t>(docs));
    BOOST_TEST(idx.stats().segments < 12u);
}
